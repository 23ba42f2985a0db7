package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// entry is what a test checks of one tar entry.
type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string
	body     string
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(body), mode))
	must(t, os.Chmod(p, mode))
}

// fixture makes a directory with every kind of entry a layer keeps, and a tar layer.
func fixture(t *testing.T) (dir, app, tarFile string) {
	base := t.TempDir()
	dir = filepath.Join(base, "rootfs")
	write(t, filepath.Join(dir, "bin", "tool"), "#!/bin/sh\n", 0o755)
	must(t, os.Symlink("tool", filepath.Join(dir, "bin", "alias")))
	must(t, os.Link(filepath.Join(dir, "bin", "tool"), filepath.Join(dir, "bin", "tool2")))
	must(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777))
	app = filepath.Join(base, "app")
	write(t, filepath.Join(app, "main.js"), "console.log(1)\n", 0o644)

	tarFile = filepath.Join(base, "extra.tar")
	f, err := os.Create(tarFile)
	must(t, err)
	tw := tar.NewWriter(f)
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "var/mail/", Mode: 0o2775, Gid: 8, ModTime: epoch}))
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/motd", Mode: 0o644, Size: 3, ModTime: epoch}))
	_, err = tw.Write([]byte("hi\n"))
	must(t, err)
	must(t, tw.Close())
	must(t, f.Close())
	return dir, app, tarFile
}

// readTar reads every entry of an uncompressed tar stream.
func readTar(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, epoch)
		}
		out[hdr.Name] = entry{hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, string(body)}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestImageTarball checks the written file as `ctr images import` reads it: a docker-save
// manifest.json naming the ref, a config whose file name is its digest, layers whose
// uncompressed digests are the config's diff_ids, and the config a Dockerfile would give.
func TestImageTarball(t *testing.T) {
	dir, app, tarFile := fixture(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	s, err := parseArgs([]string{
		"--ref", "agentmeter.local/test:dev", "--out", out,
		"--layer", dir, "--layer", tarFile, "--layer", app + ":/app",
		"--entrypoint", `["node","--expose-gc","main.js"]`, "--cmd", `["--help"]`,
		"--env", "NODE_ENV=production", "--env", "A=b=c",
		"--user", "65532:65532", "--workdir", "/app", "--expose", "8080", "--expose", "4318/tcp",
	})
	must(t, err)
	must(t, build(s))

	// The generic checks of the library: digests, sizes and diff_ids of everything.
	ref, err := name.NewTag("agentmeter.local/test:dev")
	must(t, err)
	img, err := tarball.ImageFromPath(out, &ref)
	must(t, err)
	must(t, validate.Image(img))

	files := map[string][]byte{}
	f, err := os.Open(out)
	must(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		files[hdr.Name], err = io.ReadAll(tr)
		must(t, err)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	must(t, json.Unmarshal(files["manifest.json"], &manifest))
	if len(manifest) != 1 || !reflect.DeepEqual(manifest[0].RepoTags, []string{"agentmeter.local/test:dev"}) || len(manifest[0].Layers) != 3 {
		t.Fatalf("manifest.json: %s", files["manifest.json"])
	}
	rawConfig := files[manifest[0].Config]
	if manifest[0].Config != "sha256:"+sha(rawConfig) {
		t.Errorf("config %s has digest %s", manifest[0].Config, sha(rawConfig))
	}
	var config struct {
		OS, Architecture string
		Config           struct {
			Entrypoint, Cmd, Env []string
			User, WorkingDir     string
			ExposedPorts         map[string]struct{}
		}
		RootFS struct {
			Type    string
			DiffIDs []string `json:"diff_ids"`
		}
	}
	must(t, json.Unmarshal(rawConfig, &config))
	if config.OS != "linux" || config.Architecture != "amd64" {
		t.Errorf("platform %s/%s", config.OS, config.Architecture)
	}
	c := config.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"node", "--expose-gc", "main.js"}) || !reflect.DeepEqual(c.Cmd, []string{"--help"}) ||
		!reflect.DeepEqual(c.Env, []string{"NODE_ENV=production", "A=b=c"}) || c.User != "65532:65532" || c.WorkingDir != "/app" ||
		!reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "4318/tcp": {}}) {
		t.Errorf("config: %+v", c)
	}

	layers := make([]map[string]entry, 0, 3)
	for i, l := range manifest[0].Layers {
		zr, err := gzip.NewReader(strings.NewReader(string(files[l])))
		must(t, err)
		raw, err := io.ReadAll(zr)
		must(t, err)
		if got := "sha256:" + sha(raw); config.RootFS.DiffIDs[i] != got {
			t.Errorf("layer %d: diff_id %s, content %s", i, config.RootFS.DiffIDs[i], got)
		}
		layers = append(layers, readTar(t, strings.NewReader(string(raw))))
	}
	want := []map[string]entry{{
		"bin/":      {tar.TypeDir, 0o755, 0, 0, "", ""},
		"bin/alias": {tar.TypeSymlink, 0o777, 0, 0, "tool", ""},
		"bin/tool":  {tar.TypeReg, 0o755, 0, 0, "", "#!/bin/sh\n"},
		"bin/tool2": {tar.TypeLink, 0o755, 0, 0, "bin/tool", ""},
		"tmp/":      {tar.TypeDir, 0o1777, 0, 0, "", ""},
	}, {
		"var/mail/": {tar.TypeDir, 0o2775, 0, 8, "", ""},
		"etc/motd":  {tar.TypeReg, 0o644, 0, 0, "", "hi\n"},
	}, {
		"app/":        {tar.TypeDir, 0o755, 0, 0, "", ""},
		"app/main.js": {tar.TypeReg, 0o644, 0, 0, "", "console.log(1)\n"},
	}}
	if !reflect.DeepEqual(layers, want) {
		t.Errorf("layers:\n got %+v\nwant %+v", layers, want)
	}
}

// TestSameInputsSameImage: the digests depend on the inputs only, not on when they were built.
func TestSameInputsSameImage(t *testing.T) {
	dir, _, _ := fixture(t)
	digest := func() string {
		out := filepath.Join(t.TempDir(), "image.tar")
		s, err := parseArgs([]string{"--ref", "x.local/y:z", "--out", out, "--layer", dir})
		must(t, err)
		must(t, build(s))
		img, err := tarball.ImageFromPath(out, nil)
		must(t, err)
		d, err := img.Digest()
		must(t, err)
		return d.String()
	}
	first := digest()
	must(t, os.Chtimes(filepath.Join(dir, "bin", "tool"), epoch.AddDate(30, 0, 0), epoch.AddDate(30, 0, 0)))
	if second := digest(); first != second {
		t.Errorf("digest changed with an mtime: %s then %s", first, second)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"--out", "x.tar", "--layer", "d"},
		{"--ref", "a:b", "--out", "x.tar"},
		{"--ref", "a:b", "--out", "x.tar", "--layer", "d:relative"},
		{"--ref", "a:b", "--out", "x.tar", "--layer", "d", "--entrypoint", "node main.js"},
		{"--ref", "a:b", "--out", "x.tar", "--layer", "d", "--env", "NOVALUE"},
		{"--ref", "a:b", "--out", "x.tar", "--layer", "d", "--workdir", "app"},
		{"--ref", "a:b", "--out", "x.tar", "--layer", "d", "stray"},
	} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	// A device or a FIFO, or a tar placed under a directory, is refused rather than written wrongly.
	dir := t.TempDir()
	withFifo := t.TempDir()
	must(t, syscall.Mkfifo(filepath.Join(withFifo, "pipe"), 0o600))
	for _, layer := range []string{"/dev/null", withFifo, dir + "/missing", tarFileIn(t) + ":/app"} {
		s, err := parseArgs([]string{"--ref", "a.local/b:c", "--out", filepath.Join(dir, "x.tar"), "--layer", layer})
		must(t, err)
		if err := build(s); err == nil {
			t.Errorf("--layer %s: built", layer)
		}
	}
}

func tarFileIn(t *testing.T) string {
	_, _, tarFile := fixture(t)
	return tarFile
}
