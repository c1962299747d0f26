// Package deploy holds what ships ehstream, and the tests that run it:
// the image (Containerfile, built by podman.sh build-image from a binary
// built on the host, with image/passwd and image/group) and podman's
// settings for machines like CI's (containers.conf, which podman.sh
// applies).
//
// The package has no code of its own: its tests build the image with
// podman.sh and run it. podman_test.go (the image, shared by the tests,
// and running podman) and container_test.go (ehstream stream --until-idle
// in a container, its data on a volume). Without podman they skip, unless
// CI=true, where they fail: .ci/run installs it.
package deploy
