package container

import (
	"context"
	"errors"
	"time"
)

type stubClient struct{ k, p string }

func newCRIClient(p string, _ time.Duration) runtimeClient { return &stubClient{"cri", p} }
func newContainerdClient(p string, _ time.Duration) runtimeClient {
	return &stubClient{"containerd", p}
}
func (s *stubClient) kind() string                                   { return s.k }
func (s *stubClient) socket() string                                 { return s.p }
func (s *stubClient) connect(context.Context) error                  { return errors.New("todo") }
func (s *stubClient) inspect(context.Context, string) (*Info, error) { return nil, errNotFound }
func (s *stubClient) running(context.Context) ([]string, error)      { return nil, nil }
func (s *stubClient) watch(context.Context, func(change)) error      { return nil }
func (s *stubClient) close()                                         {}
