#!/bin/sh
# scripts/ci-kubectl.sh DIR: puts kubectl $KUBECTL_VERSION in DIR, for a GitLab job whose image has
# none (the Pulumi images have none): `npm test` compares the Secret bytes with kubectl's, and the
# program's image-isolation probe asks the cluster with it (without it a multi-tenant stack warns
# "cannot tell", and `imageIsolation: require` stops). The job puts DIR on PATH.
# From dl.k8s.io, checked against the SHA-256 published beside it; nothing to do when kubectl is on
# PATH already (a shell runner's). POSIX sh, so that it runs in any image with curl and sha256sum.
set -eu

dir="${1:?usage: ci-kubectl.sh DIR}"
: "${KUBECTL_VERSION:?set KUBECTL_VERSION (v1.34.0, say)}"
if command -v kubectl >/dev/null 2>&1; then
  echo "ci-kubectl: using $(command -v kubectl)"
  exit 0
fi
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "ci-kubectl: no kubectl build for $(uname -m)" >&2; exit 1 ;;
esac
url="https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${arch}/kubectl"
mkdir -p "${dir}"
# Into place only once the checksum matched: a broken download never lands on PATH.
curl -fsSLo "${dir}/kubectl.download" "${url}"
sum="$(curl -fsSL "${url}.sha256")"
echo "${sum}  ${dir}/kubectl.download" | sha256sum -c -
chmod +x "${dir}/kubectl.download"
mv "${dir}/kubectl.download" "${dir}/kubectl"
echo "ci-kubectl: kubectl ${KUBECTL_VERSION} (${arch}) from dl.k8s.io, checksum verified, in ${dir}"
