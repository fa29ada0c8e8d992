package rawio

// Read is one read(2) of fd, a non-blocking socket, made as Conn's are;
// the caller (a syscall.RawConn.Read function) handles EAGAIN. It returns
// what syscall.Read would.
func Read(fd uintptr, p []byte) (int, error) {
	n, e := sysRead(fd, p)
	if e != 0 {
		return -1, e
	}
	return n, nil
}

// Peek is one recv(2) of fd with MSG_PEEK|MSG_DONTWAIT: how many bytes
// (at most len(p), copied into p) the kernel holds unread. An empty
// receive queue answers EAGAIN.
func Peek(fd uintptr, p []byte) (int, error) {
	n, e := sysPeek(fd, p)
	if e != 0 {
		return 0, e
	}
	return n, nil
}
