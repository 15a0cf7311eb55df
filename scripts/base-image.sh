#!/usr/bin/env bash
# Build the local base image mlship builds on: Debian bookworm + python3 (3.11), venv, pip,
# ca-certificates. Nothing is pulled: the rootfs is bootstrapped with mmdebstrap from the
# Debian mirror this machine's apt already uses, then `docker import`ed.
#
# Usage: scripts/base-image.sh [IMAGE]
#   IMAGE defaults to $MLSHIP_BASE_IMAGE, else mlship-base:bookworm.
#   MLSHIP_DEBIAN_MIRROR=http://host/debian forces a mirror instead of reading apt's sources.
#   MLSHIP_BASE_REBUILD=1 rebuilds even when the image exists.
# Prints the image name on stdout; everything else goes to stderr.
set -euo pipefail

IMAGE="${1:-${MLSHIP_BASE_IMAGE:-mlship-base:bookworm}}"
SUITE=bookworm
PACKAGES=python3,python3-venv,python3-pip,ca-certificates
LOCK_FILE="${TMPDIR:-/tmp}/mlship-base-image.lock"

log() { printf 'base-image: %s\n' "$*" >&2; }
die() { printf 'base-image: error: %s\n' "$*" >&2; exit 1; }

image_exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

image_size() {
    docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.1f MB", $1 / 1000000 }'
}

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Print "deb URI SUITE COMPONENTS" lines for the bookworm suites found in apt's sources
# (one-line .list and deb822 .sources formats). Only Debian-archive-like entries, i.e. ones
# with the `main` component, are kept so third-party repos (docker, nodesource) are skipped.
host_bookworm_sources() {
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] && files+=("$f")
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    awk -v suite_re="^${SUITE}(-updates|-security)?$" '
        function emit(types, opts, uris, suites, comps,   t, u, s, nt, nu, ns, i, j, k) {
            if (enabled ~ /^[Nn]o/ || comps !~ /(^| )main( |$)/) return
            nt = split(types, t, " "); nu = split(uris, u, " "); ns = split(suites, s, " ")
            for (i = 1; i <= nt; i++) if (t[i] == "deb")
                for (j = 1; j <= nu; j++) for (k = 1; k <= ns; k++)
                    if (s[k] ~ suite_re) print "deb " opts u[j] " " s[k] " " comps
        }
        function flush(   opts) {
            # Signed-By may be a key file (kept) or an inline key block (left to mmdebstrap).
            opts = (signedby ~ /^\//) ? "[signed-by=" signedby "] " : ""
            if (uris != "") emit(types, opts, uris, suites, comps)
            types = uris = suites = comps = enabled = signedby = ""
        }
        FNR == 1 { flush() }
        /^[[:space:]]*#/ { next }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[[:space:]]*$/) { flush(); next }
            key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
            if (key == "types") types = val; else if (key == "uris") uris = val
            else if (key == "suites") suites = val; else if (key == "components") comps = val
            else if (key == "enabled") enabled = val; else if (key == "signed-by") signedby = val
            next
        }
        $1 == "deb" {
            line = $0; sub(/^deb[[:space:]]+/, "", line); opts = ""
            if (match(line, /^\[[^]]*\][[:space:]]*/)) {
                opts = substr(line, 1, RLENGTH); sub(/[[:space:]]*$/, " ", opts)
                line = substr(line, RLENGTH + 1)
            }
            sub(/[[:space:]]*#.*$/, "", line)
            n = split(line, w, /[[:space:]]+/); c = ""
            for (i = 3; i <= n; i++) c = c (c == "" ? "" : " ") w[i]
            emit("deb", opts, w[1], w[2], c)
        }
        END { flush() }
    ' "${files[@]}" | awk '!seen[$0]++'
}

mirror_lines() {
    if [[ -n "${MLSHIP_DEBIAN_MIRROR:-}" ]]; then
        printf 'deb %s %s main\ndeb %s %s-updates main\n' \
            "$MLSHIP_DEBIAN_MIRROR" "$SUITE" "$MLSHIP_DEBIAN_MIRROR" "$SUITE"
        return
    fi
    local lines
    lines="$(host_bookworm_sources)"
    if grep -qE " ${SUITE} " <<<"$lines"; then
        printf '%s\n' "$lines"
    else
        log "no ${SUITE} entry in apt sources; falling back to deb.debian.org"
        printf 'deb http://deb.debian.org/debian %s main\n' "$SUITE"
        printf 'deb http://deb.debian.org/debian %s-updates main\n' "$SUITE"
        printf 'deb http://deb.debian.org/debian-security %s-security main\n' "$SUITE"
    fi
}

build() {
    command -v docker >/dev/null || die "docker CLI not found"
    docker info >/dev/null 2>&1 || die "docker engine not reachable (is dockerd running?)"
    command -v mmdebstrap >/dev/null || apt_install mmdebstrap

    local workdir
    workdir="$(mktemp -d "${TMPDIR:-/tmp}/mlship-base.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: workdir is local
    trap "rm -rf '$workdir'" EXIT

    local mirrors=()
    mapfile -t mirrors < <(mirror_lines)
    log "mirrors: $(printf '%s; ' "${mirrors[@]}")"

    # path-exclude lands in /etc/dpkg/dpkg.cfg.d/99mmdebstrap, so images built FROM this
    # one stay slim too. /usr/share/python-wheels (ensurepip's wheels) must stay.
    log "bootstrapping ${SUITE} rootfs with mmdebstrap (minbase + ${PACKAGES})"
    # The merged-usr hook sets up /usr symlinks itself and installs usr-is-merged, instead
    # of the usrmerge package, which would drag ~50 MB of perl into the image.
    # shellcheck disable=SC2016  # the hooks' "$1" is expanded by mmdebstrap, not here
    mmdebstrap --mode=root --variant=minbase --format=tar \
        --include="$PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
        "$SUITE" "$workdir/rootfs.tar" "${mirrors[@]}" >&2

    local pyver
    pyver="$(tar -xOf "$workdir/rootfs.tar" ./var/lib/dpkg/status |
        awk '/^Package: python3$/ { p = 1 } p && /^Version:/ { print $2; exit }')"

    log "importing rootfs as ${IMAGE}"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change "LABEL org.opencontainers.image.title=mlship-base org.opencontainers.image.base.name=debian:${SUITE} io.mlship.python3-version=${pyver:-unknown}" \
        --change 'CMD ["bash"]' \
        --message "mlship base: debian ${SUITE} minbase + ${PACKAGES}" \
        "$workdir/rootfs.tar" "$IMAGE" >/dev/null
}

verify() {
    log "verifying python3 -m venv works inside ${IMAGE}"
    local out
    if ! out="$(docker run --rm "$IMAGE" sh -ec '
            python3 -c "import venv, ensurepip, ssl, sys; print(sys.version.split()[0])"
            python3 -m venv /tmp/v
            /tmp/v/bin/python -m pip --version >/dev/null
            python3 -m pip --version >/dev/null' 2>&1)"; then
        printf '%s\n' "$out" >&2
        docker image rm "$IMAGE" >/dev/null 2>&1 || true
        die "${IMAGE} cannot create a python venv; removed the broken image"
    fi
    log "python ${out##*$'\n'} with venv + pip OK"
}

main() {
    if [[ -z "${MLSHIP_BASE_REBUILD:-}" ]] && image_exists; then
        log "${IMAGE} already exists ($(image_size)); nothing to do (MLSHIP_BASE_REBUILD=1 to rebuild)"
        printf '%s\n' "$IMAGE"
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "must run as root (mmdebstrap root mode, apt-get)"

    # Serialise concurrent builds of the same machine; the loser finds the image built.
    exec 9>"$LOCK_FILE"
    flock 9
    if [[ -z "${MLSHIP_BASE_REBUILD:-}" ]] && image_exists; then
        log "${IMAGE} was built by a concurrent run ($(image_size))"
        printf '%s\n' "$IMAGE"
        return 0
    fi

    local old_id
    old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
    build
    verify
    # A rebuild leaves the previous image dangling; drop it unless something still uses it.
    if [[ -n "$old_id" && "$old_id" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    log "built ${IMAGE} in ${SECONDS}s, size $(image_size)"
    printf '%s\n' "$IMAGE"
}

main
