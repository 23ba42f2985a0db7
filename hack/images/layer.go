package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// epoch is every entry's mtime and the image's creation time: the same inputs then give the same
// layer digests, whenever and wherever they are built.
var epoch = time.Unix(0, 0).UTC()

// layerSource is one --layer argument: a directory whose contents go under dest in the image, or
// a tar file (plain or gzip) whose entries are copied as they are.
type layerSource struct {
	src  string
	dest string
}

func parseLayer(arg string) (layerSource, error) {
	src, dest, found := strings.Cut(arg, ":")
	if !found {
		dest = "/"
	}
	if src == "" || !path.IsAbs(dest) {
		return layerSource{}, fmt.Errorf("--layer %q: want SRC or SRC:/ABSOLUTE/DEST", arg)
	}
	return layerSource{src: src, dest: path.Clean(dest)}, nil
}

// writeLayer writes the layer's uncompressed tar into w.
func (l layerSource) writeLayer(w io.Writer) error {
	info, err := os.Stat(l.src)
	if err != nil {
		return err
	}
	if !info.IsDir() && !info.Mode().IsRegular() {
		return fmt.Errorf("%s is neither a directory nor a tar file", l.src)
	}
	tw := tar.NewWriter(w)
	if info.IsDir() {
		err = writeDir(tw, l.src, strings.TrimPrefix(l.dest, "/"))
	} else if l.dest != "/" {
		err = fmt.Errorf("%s: a tar layer is copied as it is; it cannot be placed under %s", l.src, l.dest)
	} else {
		err = copyTar(tw, l.src)
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// writeDir adds the tree at root under prefix ("" for the image root). Like Docker's COPY without
// --chown, every entry is owned by 0:0; modes, symlinks and hard links are kept. prefix and its
// parents are directories with mode 0755, as WORKDIR makes them.
func writeDir(tw *tar.Writer, root, prefix string) error {
	if prefix != "" {
		parts := strings.Split(prefix, "/")
		for i := range parts {
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755, ModTime: epoch}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
	}
	links := map[[2]uint64]string{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, walkErr error) error {
		if walkErr != nil {
			return walkErr
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		target := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			name += "/"
		case tar.TypeReg, tar.TypeSymlink:
		default:
			return fmt.Errorf("%s: only directories, regular files and symlinks can go into a layer", p)
		}
		hdr.Name = name
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Format = tar.FormatUnknown
		if st, ok := info.Sys().(*syscall.Stat_t); ok && hdr.Typeflag == tar.TypeReg && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, seen := links[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(tw, f)
		if err == nil && n != hdr.Size {
			err = fmt.Errorf("%s changed size while being read", p)
		}
		return err
	})
}

// copyTar copies every entry of a tar file (plain or gzip-compressed) into tw.
func copyTar(tw *tar.Writer, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if zr, err := gzip.NewReader(f); err == nil {
		defer zr.Close()
		r = zr
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
