package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
)

// natsFileProblems reads the NATS credentials file and nkey seed file the
// purge bus will present, as nats.go will at connect time, so that a wrong
// path or a file of the wrong kind is a configuration error naming the
// field rather than a bus that never connects.
func (c *Config) natsFileProblems() []*FieldError {
	var errs []*FieldError
	n := c.Purge.NATS
	if n.Credentials != "" {
		if err := checkCredentials(n.Credentials); err != nil {
			errs = append(errs, c.fieldErr("purge.nats.credentials", "%v", err))
		}
	}
	if n.NKeySeed != "" {
		if err := checkNKeySeed(n.NKeySeed); err != nil {
			errs = append(errs, c.fieldErr("purge.nats.nkey_seed", "%v", err))
		}
	}
	return errs
}

// checkCredentials reads a NATS credentials file: a user JWT and the
// user's nkey seed between the "-----BEGIN ... -----" lines nsc writes.
func checkCredentials(path string) error {
	data, err := readNATSFile(path, "credentials")
	if err != nil {
		return err
	}
	// ParseDecoratedJWT returns the whole file when it finds no JWT
	// block; a JWT is three dot-separated parts.
	if jwt, err := nkeys.ParseDecoratedJWT(data); err != nil || strings.Count(jwt, ".") != 2 || strings.ContainsAny(jwt, " \n") {
		return fmt.Errorf("%s is not a NATS credentials file: no user JWT (want the file nsc generates, with a JWT and an nkey seed)", path)
	}
	if err := userSeedProblem(data); err != nil {
		return fmt.Errorf("%s: no user nkey seed in the credentials file: %v", path, err)
	}
	return nil
}

// checkNKeySeed reads a file holding a NATS user nkey seed ("SU...").
func checkNKeySeed(path string) error {
	data, err := readNATSFile(path, "nkey seed")
	if err != nil {
		return err
	}
	if err := userSeedProblem(data); err != nil {
		return fmt.Errorf("%s does not hold a NATS user nkey seed (SU...): %v", path, err)
	}
	return nil
}

func readNATSFile(path, kind string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the NATS %s file: %w", kind, err)
	}
	return data, nil
}

// userSeedProblem says why data holds no user nkey seed, nil if it does.
func userSeedProblem(data []byte) error {
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return err
	}
	kp.Wipe()
	return nil
}
