// Command ipsec-mesh-engine is one multi-call binary that stands in for the
// Pulumi plugins this machine cannot fetch: the Node.js language host and the
// command, tls and random resource providers. The module proxy here serves
// github.com/pulumi/pulumi/{pkg,sdk}/v3 but none of those plugin modules, so
// scripts/build-engine.sh builds this program and links it under each plugin
// name; argv[0] picks the personality. One binary means one link step instead
// of four, which matters on a 2-core machine.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
)

// Versions are set with -ldflags -X by scripts/build-engine.sh from package.json
// so that `pulumi plugin ls` and the engine see the versions the npm SDKs ask for.
var (
	commandVersion = "0.0.0-dev"
	tlsVersion     = "0.0.0-dev"
	randomVersion  = "0.0.0-dev"
)

func main() {
	name := filepath.Base(os.Args[0])
	if len(os.Args) > 1 && os.Args[1] == "--as" && len(os.Args) > 2 {
		// Explicit personality, for tests and for running without the symlinks.
		name = os.Args[2]
		os.Args = append([]string{os.Args[0]}, os.Args[3:]...)
	}
	var err error
	switch name {
	case "pulumi-language-nodejs":
		err = serve(func(s *grpc.Server, engine string) { registerLanguageHost(s, engine) })
	case "pulumi-resource-command":
		err = serveProvider(newCommandProvider())
	case "pulumi-resource-tls":
		err = serveProvider(newTLSProvider())
	case "pulumi-resource-random":
		err = serveProvider(newRandomProvider())
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown personality %q (link this binary as pulumi-language-nodejs, "+
			"pulumi-resource-command, pulumi-resource-tls or pulumi-resource-random)\n", os.Args[0], name)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// engineAddress returns the last positional argument: the engine passes its
// gRPC address last and may put flags (-tracing, -v, --logtostderr) before it.
func engineAddress(args []string) string {
	addr := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			addr = a
		}
	}
	return addr
}

// serve starts a gRPC server on a kernel-chosen loopback port and prints the
// port on stdout, which is how the engine learns where a plugin listens.
func serve(register func(s *grpc.Server, engine string)) error {
	engine := engineAddress(os.Args[1:])
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			register(s, engine)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("could not start the gRPC server: %w", err)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		return fmt.Errorf("gRPC server stopped: %w", err)
	}
	return nil
}
