package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ProgramOptions configure a ProgramSink.
type ProgramOptions struct {
	// Command is a command line run with /bin/sh -c, as Falco's
	// program_output.program, so it may hold pipes and redirections.
	// Alerts only ever reach the program's standard input, never the
	// shell's command line.
	Command string
	// Args, when set, is run directly (Args[0] looked up in PATH) without
	// any shell; Command is then ignored.
	Args []string
	// KeepAlive runs one long-lived program that reads an alert per line;
	// otherwise a program is started for each alert, which it reads before
	// end of input (like `mail`).
	KeepAlive bool
	Encoding  Encoding
	// RestartDelay is the least time between two starts of a long-lived
	// program that keeps dying; 0 means 1s.
	RestartDelay time.Duration
	// Timeout bounds the writing of one alert and, without KeepAlive, the
	// program's run; at Close it bounds the wait for the program to exit
	// after end of input. 0 means 5s.
	Timeout time.Duration
	// Stdout and Stderr receive the program's output; nil means the
	// agent's own.
	Stdout, Stderr io.Writer
}

// ProgramSink pipes alerts, one per line, to a program's standard input.
// A long-lived program that dies is started again before the next alert.
type ProgramSink struct {
	o       ProgramOptions
	proc    *process // the long-lived program, nil until started
	started time.Time
	buf     []byte
}

// process is one started program.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	exited chan struct{} // closed once the program has been reaped
}

// NewProgramSink checks the options; a long-lived program is started at the
// first alert.
func NewProgramSink(o ProgramOptions) (*ProgramSink, error) {
	if o.Command == "" && len(o.Args) == 0 {
		return nil, errors.New("program output: no program given")
	}
	if o.RestartDelay <= 0 {
		o.RestartDelay = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	return &ProgramSink{o: o}, nil
}

// start runs the program with a pipe on its standard input. The program
// gets its own process group so that what it spawns (the commands of a
// shell pipeline) can be stopped with it.
func (s *ProgramSink) start() (*process, error) {
	var cmd *exec.Cmd
	if len(s.o.Args) > 0 {
		cmd = exec.Command(s.o.Args[0], s.o.Args[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", s.o.Command)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("program output: %w", err)
	}
	cmd.Stdin = r
	cmd.Stdout, cmd.Stderr = s.o.Stdout, s.o.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("program output: start %s: %w", s.name(), err)
	}
	_ = r.Close()
	p := &process{cmd: cmd, stdin: w, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (s *ProgramSink) name() string {
	if len(s.o.Args) > 0 {
		return s.o.Args[0]
	}
	return fmt.Sprintf("%q", s.o.Command)
}

// Pid returns the process id of the running long-lived program, or 0.
func (s *ProgramSink) Pid() int {
	if s.proc == nil {
		return 0
	}
	select {
	case <-s.proc.exited:
		return 0
	default:
		return s.proc.cmd.Process.Pid
	}
}

// stop closes the program's input and waits up to wait for it to exit;
// then it kills the program's process group, while the group still has
// its leader, so that no other process can be hit.
func (p *process) stop(wait time.Duration) error {
	_ = p.stdin.Close()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("program output: program did not exit %s after end of input; killed", wait)
	}
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("program output: program %s", st)
	}
	return nil
}

// write writes b to the program's input, giving up at the timeout or when
// ctx is done.
func (p *process) write(ctx context.Context, b []byte, timeout time.Duration) error {
	_ = p.stdin.SetWriteDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = p.stdin.SetWriteDeadline(time.Now()) })
	defer stop()
	_, err := p.stdin.Write(b)
	return err
}

// Write sends the alert's line to the program.
func (s *ProgramSink) Write(ctx context.Context, a *Alert) error {
	s.buf = s.o.Encoding.AppendLine(s.buf[:0], a)
	s.buf = append(s.buf, '\n')
	if !s.o.KeepAlive {
		p, err := s.start()
		if err != nil {
			return err
		}
		werr := p.write(ctx, s.buf, s.o.Timeout)
		if err := p.stop(s.o.Timeout); werr == nil {
			werr = err
		}
		return werr
	}
	// A write may fail because the program just died: restart it and try
	// once more, so that the alert is not lost to the crash.
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = s.ensure(ctx); err != nil {
			return err
		}
		if err = s.proc.write(ctx, s.buf, s.o.Timeout); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		_ = s.proc.stop(0)
		s.proc = nil
	}
	return fmt.Errorf("program output: write to %s: %w", s.name(), err)
}

// ensure starts the long-lived program if it is not running, waiting out
// RestartDelay since the previous start.
func (s *ProgramSink) ensure(ctx context.Context) error {
	if s.proc != nil {
		select {
		case <-s.proc.exited:
			_ = s.proc.stop(0)
			s.proc = nil
		default:
			return nil
		}
	}
	if wait := s.o.RestartDelay - time.Since(s.started); !s.started.IsZero() && wait > 0 {
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
	p, err := s.start()
	if err != nil {
		return err
	}
	s.proc, s.started = p, time.Now()
	return nil
}

// Close ends the program's input and waits for it to exit.
func (s *ProgramSink) Close() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(s.o.Timeout)
	s.proc = nil
	return err
}
