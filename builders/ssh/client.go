package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pipebuild/pipe/stages"
)

// DefaultTimeout is how long Dial keeps trying when Config.Timeout is zero
// (Packer's ssh_timeout default).
const DefaultTimeout = 5 * time.Minute

// Keepalives: OpenSSH's ServerAliveInterval idea. A provisioner that prints
// nothing for minutes (a long apt upgrade) must not lose its connection to a
// NAT or load balancer that drops idle flows, and a dead peer must be
// noticed rather than waited on forever.
const (
	keepaliveRequest  = "keepalive@openssh.com"
	keepaliveInterval = 30 * time.Second
	// keepaliveTimeout is how long a keepalive may go unanswered before the
	// connection is taken for dead and closed, which fails running commands.
	keepaliveTimeout = 3 * keepaliveInterval
)

// Config says how to reach a machine.
type Config struct {
	// Host and Port are the machine's address; Port defaults to 22.
	Host string
	Port int
	// User is the login user.
	User string
	// Signer is the private key to log in with.
	Signer ssh.Signer
	// HostKey is the machine's expected host key. Nil accepts any key: a
	// temporary cloud instance generates its host key at first boot, so
	// nothing can know it in advance, and the instance lives only as long as
	// the build. Set it whenever the key is known (read from the console
	// output, say), and Dial refuses any other.
	HostKey ssh.PublicKey
	// Timeout is how long Dial keeps trying to connect (Packer's
	// ssh_timeout); zero means DefaultTimeout.
	Timeout time.Duration
	// Log receives progress lines such as "waiting for SSH on
	// admin@1.2.3.4:22…"; nil discards them.
	Log io.Writer
}

// Client is a connection to a machine. Its Communicator runs commands and
// moves files over it; Close ends it.
type Client struct {
	client    *ssh.Client
	user      string
	sessions  chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Dial connects to the machine in cfg, retrying until cfg.Timeout while the
// machine boots. See the package documentation for what is retried.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sc, err := dial(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{client: sc, user: cfg.User, sessions: make(chan struct{}, maxSessions), done: make(chan struct{})}
	go c.keepalive()
	return c, nil
}

// Close closes the connection; commands still running fail.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	if err := c.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close ssh connection: %w", err)
	}
	return nil
}

// Communicator returns a stages.Communicator over the connection, safe for
// concurrent use. It stops working when the Client is closed.
func (c *Client) Communicator() stages.Communicator {
	return &Communicator{client: c.client, user: c.user, sessions: c.sessions}
}

// keepalive sends keepalives until Close, and closes the connection when one
// goes unanswered for keepaliveTimeout. Any reply counts: OpenSSH answers
// this unknown request with a failure, which proves the peer alive.
func (c *Client) keepalive() {
	t := time.NewTicker(keepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest(keepaliveRequest, true, nil)
			replied <- err
		}()
		select {
		case <-c.done:
			return
		case err := <-replied:
			if err != nil {
				return // the connection is gone already
			}
		case <-time.After(keepaliveTimeout):
			c.client.Close()
			return
		}
	}
}

// check validates cfg and fills in defaults.
func (cfg *Config) check() error {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	var errs []error
	if cfg.Host == "" {
		errs = append(errs, errors.New("no host"))
	}
	if cfg.User == "" {
		errs = append(errs, errors.New("no user"))
	}
	if cfg.Signer == nil {
		errs = append(errs, errors.New("no private key"))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", cfg.Port))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative timeout %s", cfg.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ssh %s: %w", cfg.name(), err)
	}
	return nil
}

// addr is "host:port".
func (cfg *Config) addr() string {
	return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
}

// name is "user@host:port", as errors and logs name the machine.
func (cfg *Config) name() string {
	return cfg.User + "@" + cfg.addr()
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}
