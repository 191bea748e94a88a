package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/maidhq/maid/sdk"
)

// sdkDir is where the guest finds maid_sdk (it is on PYTHONPATH).
const sdkDir = "/opt/maid/sdk"

// sdkFiles lists the embedded SDK's files (slash paths such as
// "maid_sdk/__main__.py"), sorted bytewise, without Python caches.
func sdkFiles() ([]string, error) {
	var files []string
	err := fs.WalkDir(sdk.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && !strings.HasSuffix(p, ".pyc") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// sdkHash identifies the embedded SDK. It must match what
// scripts/build-docker-image.sh puts in the image's dev.maid.sdk label: the
// sha256 of `sha256sum` output lines for every file, sorted by path.
func sdkHash() (string, error) {
	files, err := sdkFiles()
	if err != nil {
		return "", fmt.Errorf("hash sdk: %w", err)
	}
	var list bytes.Buffer
	for _, f := range files {
		data, err := fs.ReadFile(sdk.FS(), f)
		if err != nil {
			return "", fmt.Errorf("hash sdk: %w", err)
		}
		fmt.Fprintf(&list, "%x  %s\n", sha256.Sum256(data), f)
	}
	return fmt.Sprintf("%x", sha256.Sum256(list.Bytes())), nil
}

// sdkTar is the embedded SDK as a tar stream rooted at the SDK dir.
func sdkTar() ([]byte, error) {
	files, err := sdkFiles()
	if err != nil {
		return nil, fmt.Errorf("pack sdk: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // parents before children
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return nil, fmt.Errorf("pack sdk: %w", err)
		}
	}
	for _, f := range files {
		data, err := fs.ReadFile(sdk.FS(), f)
		if err != nil {
			return nil, fmt.Errorf("pack sdk: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return nil, fmt.Errorf("pack sdk: %w", err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("pack sdk: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack sdk: %w", err)
	}
	return buf.Bytes(), nil
}

// sdkVolume makes sure the guest sees this host's SDK and returns the mounts
// that give it (none when the image already holds it).
//
// Why a volume: the root filesystem is read-only and Docker refuses
// CopyToContainer into a read-only root, and cannot copy into a tmpfs; bind
// mounts would not work against a remote engine. So an image built by
// `make docker-image` carries the SDK at /opt/maid/sdk with a dev.maid.sdk
// label naming its hash; when the label matches the embedded SDK, nothing is
// copied. For any other image (a stale maid image, or a stock Python image
// from a registry), the embedded SDK is copied into a named volume of this
// Backend's own, through a created-but-never-started helper container,
// and that volume is mounted read-only over /opt/maid/sdk. It returns the
// volume's name too ("" when the image has the SDK).
//
// Why a volume per Backend, not one per SDK hash shared by every maid (as
// before): a shared volume has no owner, so nobody could ever prune it, and
// they piled up, one per SDK change. Pruning one some other maid still
// mounts would be worse: the engine makes a missing named volume anew,
// empty, on the next create, and that maid's plugins would lose the SDK.
// With an owner, the Backend removes its volume at Close and the orphan
// sweep removes those of dead maids (role "sdk", see removeOrphans). The
// price is one copy of the SDK (a few hundred KiB) per Backend, and only
// with an image that lacks this SDK.
func sdkVolume(ctx context.Context, cli *client.Client, image string, imageLabels map[string]string, labels map[string]string) ([]mount.Mount, string, error) {
	hash, err := sdkHash()
	if err != nil {
		return nil, "", err
	}
	if imageLabels[labelSDK] == hash {
		return nil, "", nil
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "maid-sdk-" + hash[:16] + "-" + labels[labelPID] + "-" + hex.EncodeToString(rnd[:])
	vol := map[string]string{}
	for k, v := range labels {
		vol[k] = v
	}
	vol[labelRole], vol[labelSDK] = "sdk", hash
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: vol}); err != nil {
		removeVolume(cli, name)
		return nil, "", fmt.Errorf("create sdk volume %s: %w", name, err)
	}
	fail := func(err error) ([]mount.Mount, string, error) {
		removeVolume(cli, name)
		return nil, "", err
	}
	content, err := sdkTar()
	if err != nil {
		return fail(err)
	}
	// Mounted at a path the image does not have, with NoCopy, so nothing
	// from the image (such as stale __pycache__ files) lands in the volume.
	const helperDir = "/maid-sdk-volume"
	helperLabels := map[string]string{}
	for k, v := range labels {
		helperLabels[k] = v
	}
	helperLabels[labelRole] = "sdk-helper"
	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, Labels: helperLabels, Entrypoint: []string{"python3"}, NetworkDisabled: true},
		&container.HostConfig{
			NetworkMode: "none",
			Mounts: []mount.Mount{{
				Type: mount.TypeVolume, Source: name, Target: helperDir,
				VolumeOptions: &mount.VolumeOptions{NoCopy: true},
			}},
		}, nil, nil, "")
	if err != nil {
		return fail(fmt.Errorf("create sdk helper container: %w", err))
	}
	err = cli.CopyToContainer(ctx, created.ID, helperDir, bytes.NewReader(content), container.CopyToContainerOptions{})
	cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	if err != nil {
		return fail(fmt.Errorf("copy sdk into volume %s: %w", name, err))
	}
	return []mount.Mount{{
		Type: mount.TypeVolume, Source: name, Target: sdkDir, ReadOnly: true,
		VolumeOptions: &mount.VolumeOptions{NoCopy: true},
	}}, name, nil
}
