#!/usr/bin/env bash
# scripts/image-path.sh DIR [--with-pulumi]: makes DIR/bin a PATH holding only what the GitLab jobs'
# image, pulumi/pulumi-nodejs-22, gives a job (node:22-trixie-slim's shell and core tools, Node and
# npm, curl, git, openssl; with --with-pulumi the Pulumi CLI and its language host, as in the
# image's /pulumi/bin), as links to this machine's copies, and prints DIR/bin. A job's script run
# with `env -i PATH=DIR/bin` then has what it would have in the image, and what it installs itself:
# no Go, shellcheck, kubectl or apt-get (a job must not need root, nor a Debian image).
# This machine reaches only npm, Debian and the Go proxy, so DIR/bin/curl stands in for curl: it
# serves dl.k8s.io's kubectl (and its .sha256) from this machine's kubectl, fails on any other
# URL as an unreachable host would, and refuses to write outside the job's folders (a job that
# wrote /usr/local/bin here would change this machine).
# Used by test/jobs/ (npm run test:jobs) and scripts/pipelines.sh.
set -euo pipefail

dir="${1:?usage: image-path.sh DIR [--with-pulumi]}"
with_pulumi=0
[[ "${2:-}" == --with-pulumi ]] && with_pulumi=1
bin="${dir}/bin"
mirror="${dir}/dl.k8s.io"
rm -rf "${bin}" "${mirror}"
mkdir -p "${bin}" "${mirror}"

link() {
  local path
  path="$(type -P "$1")" || return 1
  ln -sfn "$(readlink -f "${path}")" "${bin}/$1"
}

# node:22-trixie-slim is Debian's essential packages (less dpkg's and apt's tools) and mawk; the
# image adds curl (the stand-in below), git and openssl (ca-certificates depends on it), and Node.
PACKAGES=(bash dash coreutils debianutils diffutils findutils grep gzip sed tar mawk hostname util-linux
  bsdutils ncurses-bin perl-base sysvinit-utils login git openssl)
command -v dpkg-query >/dev/null || { echo "image-path: needs a Debian machine (the image is Debian)" >&2; exit 1; }
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -L "${pkg}" >/dev/null 2>&1 || { echo "image-path: package ${pkg} is not installed here" >&2; exit 1; }
  while IFS= read -r f; do
    if [[ -f "${f}" && -x "${f}" && ! -e "${bin}/${f##*/}" ]]; then ln -s "$(readlink -f "${f}")" "${bin}/${f##*/}"; fi
  done < <(dpkg-query -L "${pkg}" | grep -E '^(/usr)?/bin/[^/]+$')
done
# Names the packages' alternatives give (sh, awk, which), and Node.
for tool in sh awk which node; do
  [[ -e "${bin}/${tool}" ]] || link "${tool}" || { echo "image-path: no ${tool} here" >&2; exit 1; }
done
# npm and npx are scripts that find node on PATH: links keep them so.
for tool in npm npx; do
  ln -sfn "$(command -v "${tool}")" "${bin}/${tool}"
done
if ((with_pulumi)); then
  cli="$(command -v pulumi)" || { echo "image-path: no pulumi on PATH; run: source scripts/setup.sh" >&2; exit 1; }
  # The CLI's folder and its resolved executable's, where a host built here sits.
  for f in "$(dirname "${cli}")"/pulumi* "$(dirname "$(readlink -f "${cli}")")"/pulumi*; do
    [[ -e "${bin}/${f##*/}" ]] || ln -s "$(readlink -f "${f}")" "${bin}/${f##*/}"
  done
fi

kubectl="$(command -v kubectl)" || { echo "image-path: no kubectl on this machine to stand for dl.k8s.io's" >&2; exit 1; }
ln -sfn "$(readlink -f "${kubectl}")" "${mirror}/kubectl"
sha256sum "${mirror}/kubectl" | cut -d' ' -f1 >"${mirror}/kubectl.sha256"

cat >"${bin}/curl" <<EOF
#!${BASH}
# curl with no network but dl.k8s.io's kubectl (scripts/image-path.sh).
args=() out=0
for a in "\$@"; do
  if ((out)); then
    out=0
    case "\$(realpath -m -- "\$a")/" in
      "\$(realpath -m -- "\${CI_PROJECT_DIR:-\$PWD}")"/* | "\$(realpath -m -- "\$PWD")"/* | "\$(realpath -m -- "\$HOME")"/* | /tmp/*) ;;
      *) echo "curl: (23) not writing \$a: outside the job's folders" >&2; exit 23 ;;
    esac
  fi
  case "\$a" in
    https://dl.k8s.io/release/v*/bin/linux/*/kubectl) a="file://${mirror}/kubectl" ;;
    https://dl.k8s.io/release/v*/bin/linux/*/kubectl.sha256) a="file://${mirror}/kubectl.sha256" ;;
    *://*) echo "curl: (6) Could not resolve host: \${a#*://} (no network here but dl.k8s.io's kubectl)" >&2; exit 6 ;;
    -o | --output) out=1 ;;
    -[!-]*o) out=1 ;;
  esac
  args+=("\$a")
done
exec $(readlink -f "$(command -v curl)") "\${args[@]}"
EOF
chmod +x "${bin}/curl"
echo "${bin}"
