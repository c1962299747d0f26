// Package deploy holds what ships ehstream, and the tests that run it:
// the image (Containerfile, built by podman.sh build-image from a binary
// built on the host, with image/passwd and image/group), podman's
// settings for machines like CI's (containers.conf, which podman.sh
// applies), and the Kubernetes manifests (kubernetes/stream.yaml:
// replicas of ehstream stream sharing a consumer group through
// PostgreSQL; kubernetes/emulator.yaml: the local Event Hubs, for
// development).
//
// The package has no code of its own: its tests build the image with
// podman.sh and run it. podman_test.go (the image, shared by the tests,
// and running podman), container_test.go (ehstream stream --until-idle in
// a container, its data on a volume) and kube_test.go (the manifests under
// podman kube play: two replicas, a 4-partition hub, 20,000 events written
// exactly once, and what podman 4.3 needs changed in them). Without
// podman they skip, unless CI=true, where they fail: .ci/run installs it.
package deploy
