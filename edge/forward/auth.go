package forward

import "edged/edge/auth/htpasswd"

// Users are the proxy's accounts (forward.auth.htpasswd); see package
// htpasswd, which the gateway's routes share.
type Users = htpasswd.Users
