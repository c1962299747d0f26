package deploy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeRun is one test's podman kube play: what it played, to take down.
type kubeRun struct {
	t      *testing.T
	image  string
	suffix string // added to every name, so that runs do not collide
	dir    string // the manifests as played
}

// forPodman returns the manifest at kubernetes/name as podman kube play
// 4.3 runs it on the host's network (TestKubePlay says why), with the
// further replacements given as old, new pairs. Each change must find
// what it changes, so that a manifest edited out of its reach fails here.
func (k *kubeRun) forPodman(name string, replace ...string) string {
	k.t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		k.t.Fatal(err)
	}
	var docs []string
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !secretDoc.MatchString(doc) {
			docs = append(docs, doc)
		}
	}
	text := strings.Join(docs, "\n---\n")
	if !containerPorts.MatchString(text) {
		k.t.Fatalf("%s: no container ports line to drop: update forPodman", name)
	}
	text = containerPorts.ReplaceAllString(text, "")
	replace = append(replace, "image: localhost/ehstream:latest", "image: "+k.image)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			k.t.Fatalf("%s no longer holds %q: update forPodman", name, replace[i])
		}
		text = strings.ReplaceAll(text, replace[i], replace[i+1])
	}
	for _, n := range []string{"ehstream-emulator", "orders-archive", "ehstream-archive"} {
		text = strings.ReplaceAll(text, n, n+k.suffix)
	}
	return text
}

// play plays kubernetes/name as forPodman renders it, and takes it down
// when the test ends. Its Deployment is named deployment.
func (k *kubeRun) play(ctx context.Context, name, deployment string, replace ...string) {
	k.t.Helper()
	path := filepath.Join(k.dir, name)
	if err := os.WriteFile(path, []byte(k.forPodman(name, replace...)), 0o644); err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { k.down(path, deployment+k.suffix) })
	podman(k.t, ctx, "", "kube", "play", "--network", "host", path)
}

// down takes a played manifest down and checks that no container of its
// Deployment is left.
func (k *kubeRun) down(path, deployment string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := podmanErr(ctx, "", "kube", "down", path); err != nil {
		k.t.Error(err)
	}
	if left, err := podmanErr(ctx, "", "ps", "--all", "--quiet", "--filter", "name="+deployment); err != nil || left != "" {
		k.t.Errorf("after podman kube down %s, containers are left: %q %v", filepath.Base(path), left, err)
	}
}

// secret creates the podman secret the Secret of a manifest stands for,
// in the form podman 4.3's secretKeyRef reads: a JSON object of base64
// values (the form its kube play writes for a Secret, YAML, it cannot
// read back).
func (k *kubeRun) secret(ctx context.Context, name string, data map[string]string) {
	k.t.Helper()
	enc := map[string]string{}
	for key, v := range data {
		enc[key] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	b, err := json.Marshal(enc)
	if err != nil {
		k.t.Fatal(err)
	}
	path := filepath.Join(k.dir, name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		k.t.Fatal(err)
	}
	podman(k.t, ctx, "", "secret", "create", name+k.suffix, path)
	k.t.Cleanup(func() {
		if _, err := podmanErr(context.Background(), "", "secret", "rm", name+k.suffix); err != nil {
			k.t.Error(err)
		}
	})
}

// cleanUpAfter removes, when the test ends and its pods are down, what
// podman kube play made besides them: the volumes of ConfigMaps, which
// podman kube down leaves, and podman's pause image, which kube play
// builds for its pods when missing (only if the test made it).
func (k *kubeRun) cleanUpAfter(ctx context.Context) {
	pause := func(ctx context.Context) []string {
		out, _ := podmanErr(ctx, "", "images", "--quiet", "--filter", "reference=localhost/podman-pause")
		return strings.Fields(out)
	}
	pauseBefore := len(pause(ctx)) > 0
	k.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := podmanErr(ctx, "", "volume", "ls", "--quiet", "--filter", "name="+k.suffix)
		if vols := strings.Fields(out); err == nil && len(vols) > 0 {
			_, err = podmanErr(ctx, "", append([]string{"volume", "rm"}, vols...)...)
		}
		if err != nil {
			k.t.Error(err)
		}
		if ids := pause(ctx); !pauseBefore && len(ids) > 0 {
			if _, err := podmanErr(ctx, "", append([]string{"rmi"}, ids...)...); err != nil {
				k.t.Error(err)
			}
		}
	})
}
