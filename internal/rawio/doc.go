// Package rawio reads and writes a TCP connection with system calls the Go
// scheduler does not see (syscall.RawSyscall inside syscall.RawConn), for
// the few reads and writes every request makes.
//
// Why: a system call made through syscall.Syscall tells the scheduler it
// may block; when every P was idle, that wakes the runtime's monitor
// thread (sysmon), which then polls every 20 µs until the process is idle
// again. A cache miss takes the node from idle to busy about twice (the
// upstream's answer, the client's next request), so on a lightly loaded
// node each costs a wake-up of another thread and some fifty 20 µs sleeps
// (#17: ~10% of a node's CPU under misses). A read or write of a
// non-blocking socket never blocks in the kernel (an empty or full socket
// answers EAGAIN, and the netpoller parks the goroutine as it does for
// net.Conn), so telling the scheduler buys nothing.
//
// What is the same as net.Conn: reads wait for bytes and honour the
// connection's read deadline, return io.EOF at the end of stream and
// errors as *net.OpError; writes write every byte, waiting while the send
// buffer is full, and honour the write deadline. A Conn is made only for
// a *net.TCPConn (New returns nil otherwise, and on platforms without the
// raw path), so a wrapper that counts, paces or buffers bytes is never
// bypassed.
package rawio
