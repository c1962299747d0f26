#!/usr/bin/env bash
# podman with the settings in deploy/containers.conf (runc, cgroupfs,
# resource limits within the host's, events in a file), which machines
# like this project's CI need, and the build of the ehstream image.
#
#   deploy/podman.sh build-image [NAME]   build ehstream on the host (static, stamped
#                                         with its git revision) and the image NAME from
#                                         deploy/Containerfile (default localhost/ehstream:latest)
#   deploy/podman.sh ARGS...              podman ARGS, e.g. run, kube play, image rm
#
# The tests under deploy/ run podman through this script, so that what they
# pass is what a person types.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

if [ "${1:-}" != build-image ]; then
  exec podman "$@"
fi
name="${2:-localhost/ehstream:latest}"
certs=/etc/ssl/certs/ca-certificates.crt
if [ ! -r "$certs" ]; then
  echo "deploy/podman.sh: no $certs to put in the image: apt-get install ca-certificates" >&2
  exit 1
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# -buildvcs=auto: stamp the revision even where go env GOFLAGS turns it off.
(cd "$here/.." && CGO_ENABLED=0 go build -buildvcs=auto -trimpath -ldflags='-s -w' -o "$ctx/ehstream" ./cmd/ehstream)
cp "$certs" "$here/image/passwd" "$here/image/group" "$ctx/"
mkdir "$ctx/data"
podman build --quiet --file "$here/Containerfile" --tag "$name" "$ctx"
