// Command mkimage writes a single-platform linux/amd64 image tarball, loadable by
// `ctr images import` and `docker load`, from layers (directories or tar files) and the config a
// Dockerfile would give: no container engine and no registry needed.
//
//	mkimage --ref agentmeter.local/pause:3.10 --out pause.tar --layer rootfs/ \
//	  --entrypoint '["/pause"]' --user 65535:65535
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// spec is everything one image is made of.
type spec struct {
	ref    string
	out    string
	layers []layerSource
	config v1.Config
}

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func parseArgs(args []string) (spec, error) {
	var s spec
	var layers, env, expose repeated
	var entrypoint, cmd string
	fl := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fl.StringVar(&s.ref, "ref", "", "image reference written into the tarball (required)")
	fl.StringVar(&s.out, "out", "", "tarball to write (required)")
	fl.Var(&layers, "layer", "SRC[:/DEST]: a directory (its contents go under DEST, default /) or a tar file; repeat, lowest first")
	fl.StringVar(&entrypoint, "entrypoint", "", "ENTRYPOINT as a JSON array")
	fl.StringVar(&cmd, "cmd", "", "CMD as a JSON array")
	fl.Var(&env, "env", "KEY=VALUE; repeat")
	fl.StringVar(&s.config.User, "user", "", "USER")
	fl.StringVar(&s.config.WorkingDir, "workdir", "", "WORKDIR (absolute)")
	fl.Var(&expose, "expose", "PORT[/PROTO] as EXPOSE takes it; repeat")
	if err := fl.Parse(args); err != nil {
		return s, err
	}
	if s.ref == "" || s.out == "" || len(layers) == 0 || fl.NArg() != 0 {
		return s, fmt.Errorf("--ref, --out and at least one --layer are required, and nothing else")
	}
	for _, arg := range layers {
		l, err := parseLayer(arg)
		if err != nil {
			return s, err
		}
		s.layers = append(s.layers, l)
	}
	if err := parseArray("--entrypoint", entrypoint, &s.config.Entrypoint); err != nil {
		return s, err
	}
	if err := parseArray("--cmd", cmd, &s.config.Cmd); err != nil {
		return s, err
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return s, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
	}
	s.config.Env = env
	if s.config.WorkingDir != "" && !filepath.IsAbs(s.config.WorkingDir) {
		return s, fmt.Errorf("--workdir %q is not absolute", s.config.WorkingDir)
	}
	for _, p := range expose {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if s.config.ExposedPorts == nil {
			s.config.ExposedPorts = map[string]struct{}{}
		}
		s.config.ExposedPorts[p] = struct{}{}
	}
	return s, nil
}

func parseArray(flagName, src string, dst *[]string) error {
	if src == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(src), dst); err != nil || len(*dst) == 0 {
		return fmt.Errorf("%s %q: want a non-empty JSON array of strings", flagName, src)
	}
	return nil
}

// build writes the image tarball. Layers are staged as gzip files next to the output, so each is
// read from disk (compressed once) rather than held in memory.
func build(s spec) error {
	ref, err := name.ParseReference(s.ref, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("--ref %q: %w", s.ref, err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(s.out), ".mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)

	adds := make([]mutate.Addendum, 0, len(s.layers))
	for i, l := range s.layers {
		file := filepath.Join(staging, fmt.Sprintf("layer%d.tar.gz", i))
		if err := writeGzipLayer(l, file); err != nil {
			return fmt.Errorf("layer %s: %w", l.src, err)
		}
		layer, err := tarball.LayerFromFile(file)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.src, err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "mkimage --layer " + filepath.Base(l.src) + ":" + l.dest},
		})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: epoch}
	cf.Config = s.config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return tarball.WriteToFile(s.out, ref, img)
}

func writeGzipLayer(l layerSource, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := l.writeLayer(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func main() {
	s, err := parseArgs(os.Args[1:])
	if err == nil {
		err = build(s)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "mkimage: wrote %s (%s, %d layers)\n", s.out, s.ref, len(s.layers))
}
