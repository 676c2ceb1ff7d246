package shim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Sizes of attach packets: output packets carry at most one read of the shim's 16 kB line
// buffer, input packets at most MaxInput bytes (the shim's input buffer).
const (
	MaxInput      = 4096
	maxOutPacket  = 1 + 16384
	recvBufferLen = 2 * maxOutPacket
)

// SetTerminal hands the shim the master of the container's terminal (libcontainer's console),
// before SetMainPid: from then on the shim logs its output and writes attached input to it.
func SetTerminal(dir string, master *os.File) error {
	c, err := dial(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.WriteMsgUnix([]byte("M"), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return err
	}
	return readOK(c, "M")
}

func readOK(c *net.UnixConn, what string) error {
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "ok" {
		return fmt.Errorf("shim answered %q to %q", buf[:n], what)
	}
	return nil
}

// AttachConn is an attach session with a container's shim. Recv is for one goroutine; Input,
// CloseInput and Resize may be called from others.
type AttachConn struct {
	c   *net.UnixConn
	buf []byte
}

// Stream names an output packet's stream.
type Stream byte

const (
	Stdout Stream = 'o'
	Stderr Stream = 'e'
)

// Attach opens an attach session with dir's shim; with input, what Input sends reaches the
// container's stdin (if it has one).
func Attach(dir string, input bool) (*AttachConn, error) {
	c, err := dial(dir)
	if err != nil {
		return nil, err
	}
	msg := "A"
	if input {
		msg = "Ai"
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		c.Close()
		return nil, err
	}
	if err := readOK(c, msg); err != nil {
		c.Close()
		return nil, fmt.Errorf("attach: %w (a shim started before attach existed, or too many sessions)", err)
	}
	c.SetDeadline(time.Time{})
	return &AttachConn{c: c, buf: make([]byte, recvBufferLen)}, nil
}

// Recv returns the next output packet; its data is valid until the next call. io.EOF (or
// another error) when the shim is gone (the container ended and its output was all sent) or the
// session was closed.
func (a *AttachConn) Recv() (Stream, []byte, error) {
	for {
		n, err := a.c.Read(a.buf)
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			return 0, nil, errors.New("shim closed the session")
		}
		if n > 1 {
			return Stream(a.buf[0]), a.buf[1:n], nil
		}
	}
}

// Input sends p to the container's stdin, in packets the shim takes whole. It blocks while the
// container does not read.
func (a *AttachConn) Input(p []byte) error {
	pkt := make([]byte, 1+min(len(p), MaxInput))
	for len(p) > 0 {
		n := copy(pkt[1:], p)
		pkt[0] = 'i'
		if _, err := a.c.Write(pkt[:1+n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// CloseInput says the client's input ended: a StdinOnce container's stdin closes.
func (a *AttachConn) CloseInput() error {
	_, err := a.c.Write([]byte{'c'})
	return err
}

// Resize sets the container's terminal size.
func (a *AttachConn) Resize(width, height uint16) error {
	_, err := a.c.Write([]byte{'w', byte(height >> 8), byte(height), byte(width >> 8), byte(width)})
	return err
}

// Close ends the session (for StdinOnce, ending the first session that wrote input closes the
// container's stdin).
func (a *AttachConn) Close() error { return a.c.Close() }
