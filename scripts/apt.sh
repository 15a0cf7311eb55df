# shellcheck shell=bash
# Sourced by the scripts in scripts/: `apt_install PACKAGE...`, an apt-get install that never starts
# services (a package's postinst would otherwise start e.g. a system registry on :5000; a fresh
# machine may lack the policy-rc.d that forbids it) and runs `apt-get update` once when needed.
# The sourcing script defines log() and die().

apt_install() {
    [[ $EUID -eq 0 ]] || die "$* missing and not root: install it with apt-get"
    local created_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "installing $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
    fi
    [[ -z "$created_policy" ]] || rm -f /usr/sbin/policy-rc.d
}
