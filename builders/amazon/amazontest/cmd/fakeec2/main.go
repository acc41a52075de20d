// Command fakeec2 serves the amazontest fake of the EC2 API on loopback, so
// a pipeline with an amazon-ebs builder can be tried without an AWS
// account:
//
//	go run ./builders/amazon/amazontest/cmd/fakeec2 [-addr 127.0.0.1:0] [-delays 1]
//
// It prints the environment to point the AWS SDK at it
// (AWS_ENDPOINT_URL_EC2=http://127.0.0.1:PORT and dummy credentials) and
// serves until SIGINT or SIGTERM. As root (with openssh-server,
// busybox-static and bash-static installed) instances are real chrooted
// sshd processes; otherwise, or with -runner nop, they run nothing. Fake
// instances accept SSH as root only, on the port published in their
// pipe:fake-ssh-port tag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/pipebuild/pipe/builders/amazon/amazontest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	delays := flag.Float64("delays", 1, "scale of the state-change delays (0: instant, 1: a few seconds each)")
	runner := flag.String("runner", "auto", "instance runner: sshd, nop, or auto (sshd when possible)")
	baseDir := flag.String("basedir", amazontest.DefaultSSHDBaseDir, "directory for snapshots and instance root filesystems (sshd runner)")
	throttle := flag.Float64("throttle", 0, "fraction of calls to fail with RequestLimitExceeded")
	consistency := flag.Int("consistency", 0, "Describe calls that miss a newly created resource")
	seed := flag.Int64("seed", 1, "random seed for ids and throttling")
	verbose := flag.Bool("v", false, "log every call")
	flag.Parse()
	if err := run(*addr, *delays, *runner, *baseDir, *throttle, *consistency, *seed, *verbose); err != nil {
		log.Fatalf("fakeec2: %v", err)
	}
}

func run(addr string, delays float64, runnerName, baseDir string, throttle float64, consistency int, seed int64, verbose bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: only loopback addresses are allowed", addr)
	}
	var r amazontest.Runner = amazontest.NopRunner{}
	switch runnerName {
	case "sshd", "auto":
		sr, err := amazontest.NewSSHDRunner(amazontest.SSHDOptions{BaseDir: baseDir})
		if err != nil && runnerName == "sshd" {
			return err
		}
		if err != nil {
			log.Printf("fakeec2: instances will run nothing: %v", err)
		} else {
			r = sr
			log.Printf("fakeec2: instances are chrooted sshd processes under %s (log in as root)", sr.Dir())
		}
	case "nop":
	default:
		return fmt.Errorf("-runner %q: want sshd, nop or auto", runnerName)
	}
	fake := amazontest.New(amazontest.Options{
		Delays: amazontest.RealisticDelays.Scale(delays), ThrottleRate: throttle,
		EventualConsistency: consistency, Runner: r, Seed: seed, Verbose: verbose, Logf: log.Printf,
	})
	defer fake.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	endpoint := "http://" + l.Addr().String()
	fmt.Printf("AWS_ENDPOINT_URL_EC2=%s\nAWS_ACCESS_KEY_ID=fake\nAWS_SECRET_ACCESS_KEY=fake\nAWS_REGION=us-east-1\n", endpoint)
	fmt.Printf("# source image in every region: %s (owner %s)\n", amazontest.SourceImageName, amazontest.SourceImageOwner)
	srv := &http.Server{Handler: fake}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("fakeec2: stopped; leftovers: %v", fake.Leftovers("", ""))
	return nil
}
