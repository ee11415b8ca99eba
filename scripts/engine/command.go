package main

// Stand-in for pulumi-resource-command: local.Command and remote.Command with
// the upstream 1.x lifecycle. Create runs `create`; any input change is an
// in-place update that runs `update` (else `create`); `triggers` replaces;
// delete runs `delete`. Previous stdout/stderr go to PULUMI_COMMAND_STDOUT /
// PULUMI_COMMAND_STDERR unless addPreviousOutputInEnv is false. Environment
// variables travel with SSH setenv, which sshd drops silently without
// AcceptEnv (as upstream). Unlike upstream, output is not streamed to the
// engine while a command runs (so `logging` changes nothing); it is returned
// in stdout/stderr and in the error of a failing command.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

func newCommandProvider() *standInProvider {
	return &standInProvider{
		pkg:     "command",
		version: commandVersion,
		kinds: map[tokens.Type]resourceKind{
			"command:local:Command":  commandKind{run: runLocal},
			"command:remote:Command": commandKind{run: runRemote, remote: true},
		},
	}
}

// runner executes one script with the resource's inputs and returns stdout and stderr.
type runner func(ctx context.Context, in *props, script string, env map[string]string) (string, string, error)

type commandKind struct {
	run    runner
	remote bool
}

func (commandKind) replaceOnChange(key resource.PropertyKey) bool { return key == "triggers" }

func (c commandKind) check(m resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	p := &props{m: m}
	if c.remote {
		if !p.has("connection") {
			p.fail("connection", "connection is required")
		} else if conn := p.object("connection"); !conn.has("host") {
			p.fail("connection", "connection.host is required")
		}
	}
	if p.known("logging") {
		switch l := p.str("logging", ""); l {
		case "stdout", "stderr", "stdoutAndStderr", "none":
		default:
			p.fail("logging", "logging %q is not one of stdout, stderr, stdoutAndStderr, none", l)
		}
	}
	return m, p.failures
}

func commandID() (resource.ID, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return resource.ID(hex.EncodeToString(b)), nil
}

func previewOutputs(in resource.PropertyMap) resource.PropertyMap {
	return withOutputs(in, map[string]resource.PropertyValue{"stdout": unknownString(), "stderr": unknownString()})
}

// environment builds the variables for a run: the user's, plus the previous
// outputs when addPreviousOutputInEnv is on (the default).
func environment(in *props, previous resource.PropertyMap) map[string]string {
	env := map[string]string{}
	envObj := in.object("environment")
	for k := range envObj.m {
		env[string(k)] = envObj.str(string(k), "")
	}
	if previous != nil && in.boolean("addPreviousOutputInEnv", true) {
		prev := &props{m: previous}
		if s := prev.str("stdout", ""); s != "" {
			env["PULUMI_COMMAND_STDOUT"] = s
		}
		if s := prev.str("stderr", ""); s != "" {
			env["PULUMI_COMMAND_STDERR"] = s
		}
	}
	return env
}

func (c commandKind) runInto(
	ctx context.Context, in resource.PropertyMap, script string, previous resource.PropertyMap,
) (resource.PropertyMap, error) {
	p := &props{m: in}
	stdout, stderr, err := c.run(ctx, p, script, environment(p, previous))
	if err != nil {
		return nil, err
	}
	return withOutputs(in, map[string]resource.PropertyValue{
		"stdout": resource.NewStringProperty(stdout),
		"stderr": resource.NewStringProperty(stderr),
	}), nil
}

func (c commandKind) create(
	ctx context.Context, in resource.PropertyMap, preview bool,
) (resource.ID, resource.PropertyMap, error) {
	id, err := commandID()
	if err != nil {
		return "", nil, err
	}
	if preview {
		return id, previewOutputs(in), nil
	}
	p := &props{m: in}
	if !p.has("create") {
		return id, withOutputs(in, map[string]resource.PropertyValue{
			"stdout": resource.NewStringProperty(""), "stderr": resource.NewStringProperty(""),
		}), nil
	}
	outs, err := c.runInto(ctx, in, p.str("create", ""), nil)
	return id, outs, err
}

func (c commandKind) update(
	ctx context.Context, _ resource.ID, olds, news resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	if preview {
		return previewOutputs(news), nil
	}
	p := &props{m: news}
	script := p.str("update", p.str("create", ""))
	if script == "" {
		prev := &props{m: olds}
		return withOutputs(news, map[string]resource.PropertyValue{
			"stdout": resource.NewStringProperty(prev.str("stdout", "")),
			"stderr": resource.NewStringProperty(prev.str("stderr", "")),
		}), nil
	}
	return c.runInto(ctx, news, script, olds)
}

func (c commandKind) remove(ctx context.Context, _ resource.ID, olds resource.PropertyMap) error {
	p := &props{m: olds}
	if !p.has("delete") {
		return nil
	}
	_, _, err := c.run(ctx, p, p.str("delete", ""), environment(p, olds))
	return err
}

func trimNewline(b *bytes.Buffer) string { return strings.TrimSuffix(b.String(), "\n") }

// ---- local ----

func runLocal(ctx context.Context, in *props, script string, env map[string]string) (string, string, error) {
	interpreter := in.strings("interpreter")
	if len(interpreter) == 0 {
		interpreter = []string{"/bin/sh", "-c"}
	}
	args := append(append([]string{}, interpreter[1:]...), script)
	cmd := exec.CommandContext(ctx, interpreter[0], args...)
	cmd.Dir = in.str("dir", "")
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if in.has("stdin") {
		cmd.Stdin = strings.NewReader(in.str("stdin", ""))
	}
	var out capture
	cmd.Stdout, cmd.Stderr = out.streams()
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("%w: running %q:\n%s", err, script, out.combined())
	}
	return trimNewline(&out.stdout), trimNewline(&out.stderr), nil
}

// capture keeps stdout, stderr and both interleaved (for error messages).
// exec and ssh copy the two streams from separate goroutines, hence the lock.
type capture struct {
	mu                  sync.Mutex
	stdout, stderr, all bytes.Buffer
}

type captureStream struct {
	c   *capture
	own *bytes.Buffer
}

func (s captureStream) Write(b []byte) (int, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.own.Write(b)
	return s.c.all.Write(b)
}

func (c *capture) combined() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}

func (c *capture) streams() (captureStream, captureStream) {
	return captureStream{c, &c.stdout}, captureStream{c, &c.stderr}
}

// ---- remote ----

type sshTarget struct {
	host, user     string
	port           int
	dialErrorLimit int
	perDial        time.Duration
	config         *ssh.ClientConfig
}

func (t sshTarget) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

func sshTargetOf(c *props) (sshTarget, error) {
	t := sshTarget{
		host:           c.str("host", ""),
		user:           c.str("user", "root"),
		port:           int(c.num("port", 22)),
		dialErrorLimit: int(c.num("dialErrorLimit", 10)),
		perDial:        time.Duration(c.num("perDialTimeout", 15) * float64(time.Second)),
	}
	if t.host == "" {
		return t, errors.New("connection.host is empty")
	}
	cfg := &ssh.ClientConfig{User: t.user, Timeout: t.perDial, HostKeyCallback: ssh.InsecureIgnoreHostKey()} //nolint:gosec // upstream default without hostKey
	if hk := c.str("hostKey", ""); hk != "" {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hk))
		if err != nil {
			return t, fmt.Errorf("connection.hostKey for %s: %w", t.addr(), err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(pub)
	}
	if key := c.str("privateKey", ""); key != "" {
		var signer ssh.Signer
		var err error
		if pass := c.str("privateKeyPassword", ""); pass != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(pass))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(key))
		}
		if err != nil {
			return t, fmt.Errorf("connection.privateKey for %s: %w", t.addr(), err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if pw := c.str("password", ""); pw != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := c.str("agentSocketPath", os.Getenv("SSH_AUTH_SOCK"))
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return t, fmt.Errorf("ssh agent %s: %w", sock, err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	t.config = cfg
	return t, nil
}

// withRetries dials up to dialErrorLimit times (-1: forever), backing off up to 5 s.
func withRetries[T any](ctx context.Context, limit int, what string, dial func() (T, error)) (T, error) {
	var zero T
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := dial()
		if err == nil {
			return v, nil
		}
		if limit >= 0 && attempt >= limit {
			return zero, fmt.Errorf("%s: giving up after %d attempts: %w", what, attempt, err)
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay *= 2; delay > 5*time.Second {
			delay = 5 * time.Second
		}
	}
}

func dialSSH(ctx context.Context, conn *props) (*ssh.Client, []*ssh.Client, error) {
	target, err := sshTargetOf(conn)
	if err != nil {
		return nil, nil, err
	}
	what := fmt.Sprintf("ssh %s@%s", target.user, target.addr())
	if !conn.has("proxy") {
		c, err := withRetries(ctx, target.dialErrorLimit, what, func() (*ssh.Client, error) {
			return ssh.Dial("tcp", target.addr(), target.config)
		})
		return c, nil, err
	}
	jump, err := sshTargetOf(conn.object("proxy"))
	if err != nil {
		return nil, nil, fmt.Errorf("connection.proxy: %w", err)
	}
	what = fmt.Sprintf("%s via jump host %s@%s", what, jump.user, jump.addr())
	var proxies []*ssh.Client
	c, err := withRetries(ctx, target.dialErrorLimit, what, func() (*ssh.Client, error) {
		pc, err := ssh.Dial("tcp", jump.addr(), jump.config)
		if err != nil {
			return nil, err
		}
		nc, err := pc.Dial("tcp", target.addr())
		if err != nil {
			pc.Close()
			return nil, err
		}
		cc, chans, reqs, err := ssh.NewClientConn(nc, target.addr(), target.config)
		if err != nil {
			pc.Close()
			return nil, err
		}
		proxies = append(proxies, pc)
		return ssh.NewClient(cc, chans, reqs), nil
	})
	return c, proxies, err
}

func runRemote(ctx context.Context, in *props, script string, env map[string]string) (string, string, error) {
	client, proxies, err := dialSSH(ctx, in.object("connection"))
	defer func() {
		for _, p := range proxies {
			p.Close()
		}
	}()
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("ssh session to %s: %w", client.RemoteAddr(), err)
	}
	defer session.Close()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// sshd refuses names it does not AcceptEnv; upstream ignores that too.
		_ = session.Setenv(k, env[k])
	}
	if in.has("stdin") {
		session.Stdin = strings.NewReader(in.str("stdin", ""))
	}
	var out capture
	session.Stdout, session.Stderr = out.streams()
	done := make(chan error, 1)
	go func() { done <- session.Run(script) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		err = ctx.Err()
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: running %q on %s:\n%s", err, script, client.RemoteAddr(), out.combined())
	}
	return trimNewline(&out.stdout), trimNewline(&out.stderr), nil
}
