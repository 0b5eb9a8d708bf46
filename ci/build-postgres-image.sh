#!/usr/bin/env bash
# Build a PostgreSQL image for the testcontainers provider without any image registry.
#
#   ci/build-postgres-image.sh [IMAGE]      # default IMAGE: deploy-gates/postgres:15-bookworm
#
# The root filesystem comes from debootstrap (Debian bookworm, minbase, with Debian's postgresql
# package) using the Debian mirror apt already uses on this machine, and is imported with
# `docker import`: no Docker Hub, no Dockerfile, no base image. The entrypoint honours
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB like the official image does, so
# `--db-provider=testcontainers --postgres-image=IMAGE` runs on it.
#
# Needs root, debootstrap and a Docker engine that answers. Does nothing when IMAGE exists.
# Environment: DEPLOY_GATES_DEBIAN_MIRROR overrides the mirror read from apt's sources;
# TMPDIR is where the temporary root filesystem is built (default /var/tmp).
set -euo pipefail

image=${1:-deploy-gates/postgres:15-bookworm}
suite=bookworm

say() { echo "build-postgres-image: $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

[ "$#" -le 1 ] || fail "usage: $0 [IMAGE]"
command -v docker >/dev/null || fail "no docker client on PATH; install docker.io"
docker info >/dev/null 2>&1 || fail "no Docker engine answers \`docker info\`; start one (ci/start-docker.sh)"
if docker image inspect "$image" >/dev/null 2>&1; then
    say "image $image already exists; nothing to build (docker rmi $image to rebuild)"
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "debootstrap needs root"
command -v debootstrap >/dev/null || fail "debootstrap is not installed; apt-get install debootstrap"

# The first `deb` source of $suite in apt's configuration: one-line sources.list files and
# deb822 .sources files alike. Prints the URI, or nothing.
apt_mirror() {
    local files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    awk -v suite="$suite" '
        function flush() {
            if (uris != "" && enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
                split(uris, u, " "); print u[1]; found = 1; exit
            }
            types = uris = suites = ""; enabled = ""
        }
        FNR == 1 { flush() }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if ($0 ~ /^#/) next
            key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
            if (key == "types") types = $0
            else if (key == "uris") uris = $0
            else if (key == "suites") suites = $0
            else if (key == "enabled") enabled = tolower($0)
            next
        }
        {
            sub(/#.*/, "")
            if ($1 != "deb") next
            line = $0; sub(/^deb[ \t]+/, "", line); sub(/^\[[^]]*\][ \t]*/, "", line)
            split(line, w, /[ \t]+/)
            if (w[2] == suite) { print w[1]; found = 1; exit }
        }
        END { if (!found) flush() }
    ' "${files[@]}"
}

mirror=${DEPLOY_GATES_DEBIAN_MIRROR:-$(apt_mirror)}
[ -n "$mirror" ] || fail "no Debian $suite mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/; set DEPLOY_GATES_DEBIAN_MIRROR"

workdir=$(mktemp -d -p "${TMPDIR:-/var/tmp}" deploy-gates-rootfs.XXXXXX)
rootfs=$workdir/rootfs
log=$workdir/debootstrap.out

# Unmount whatever debootstrap may have left mounted inside the root filesystem, deepest first.
unmount_rootfs() {
    local mounts
    mounts=$(awk -v root="$rootfs/" 'index($2 "/", root) == 1 { print $2 }' /proc/mounts | sort -r)
    [ -z "$mounts" ] || echo "$mounts" | xargs -r -n1 umount -l
}

cleanup() {
    unmount_rootfs || true
    if awk -v root="$rootfs/" 'index($2 "/", root) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        say "WARNING: something is still mounted under $rootfs; left it in place"
    else
        rm -rf --one-file-system "$workdir"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

started=$SECONDS
say "debootstrap $suite (minbase + postgresql) from $mirror into $rootfs"
if ! debootstrap --variant=minbase --include=postgresql "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
    say "ERROR: debootstrap failed; last lines of its output:"
    tail -n 25 "$log" >&2
    if [ -f "$rootfs/debootstrap/debootstrap.log" ]; then
        say "last lines of $rootfs/debootstrap/debootstrap.log:"
        tail -n 25 "$rootfs/debootstrap/debootstrap.log" >&2
    fi
    exit 1
fi
unmount_rootfs

bin_dir=$(cd "$rootfs" && ls -d usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin_dir" ] && [ -x "$rootfs/$bin_dir/initdb" ] \
    || fail "debootstrap finished but no PostgreSQL server binaries are in the root filesystem"
major=$(basename "$(dirname "$bin_dir")")
[ -x "$rootfs/usr/bin/psql" ] || fail "debootstrap finished but psql is missing from the root filesystem"

# Debian's postinst creates a "main" cluster; the entrypoint makes its own. Drop caches, docs and
# message translations (the server runs in C.UTF-8).
rm -rf "$rootfs/var/lib/postgresql/$major" "$rootfs/etc/postgresql/$major" \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs/debootstrap"

cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<ENTRYPOINT
#!/bin/sh
# Initialise a cluster on first start (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB), then run
# PostgreSQL $major in the foreground as the postgres user, listening on 0.0.0.0:5432.
set -eu
PG_BIN=/$bin_dir
ENTRYPOINT
cat >>"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
PGDATA=${PGDATA:-/var/lib/postgresql/data}
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
export PGDATA

# `docker run IMAGE -c fsync=off` and `docker run IMAGE postgres -c ...` both pass server options.
if [ "${1:-}" = postgres ]; then shift; fi

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
chmod 2775 /var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "docker-entrypoint: POSTGRES_PASSWORD is not set; refusing to start without one" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
        -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
    rm -f "$pwfile"
    cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all            trust
host    all       all   all      scram-sha-256
HBA
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        db=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
        out=$(echo "CREATE DATABASE \"$db\"" | as_postgres "$PG_BIN/postgres" --single \
            -D "$PGDATA" postgres 2>&1) || { echo "$out" >&2; exit 1; }
        case "$out" in *ERROR:*|*FATAL:*) echo "$out" >&2; exit 1 ;; esac
    fi
    echo "docker-entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/postgres" -D "$PGDATA" "$@"
ENTRYPOINT
chmod 755 "$rootfs/usr/local/bin/docker-entrypoint.sh"

say "importing $rootfs as $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    -c 'EXPOSE 5432' \
    -c "ENV PATH=/$bin_dir:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -m "PostgreSQL $major on Debian $suite, built offline by deploy-gates ci/build-postgres-image.sh" \
    - "$image" >/dev/null
say "built $image (PostgreSQL $major, Debian $suite) in $(( SECONDS - started ))s"
