#!/usr/bin/env bash
# Build and install TimescaleDB (Apache-2 edition) for this machine's PostgreSQL from Debian trixie's source package.
# bookworm ships PostgreSQL 15 but no TimescaleDB; trixie's source builds against bookworm's server headers.
# Idempotent and cached: when the extension of the wanted version is already installed this exits in well under a second.
set -euo pipefail

TS_VERSION="${TS_VERSION:-2.19.3}"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
CACHE="${ENERGIBLIK_CACHE:-$HOME/.cache/energiblik}/timescaledb"
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"

if [ -f "${EXT_DIR}/timescaledb--${TS_VERSION}.sql" ] && [ -f "/usr/lib/postgresql/${PG_MAJOR}/lib/timescaledb-${TS_VERSION}.so" ]; then
  echo "timescaledb ${TS_VERSION} already installed for PostgreSQL ${PG_MAJOR}"
  exit 0
fi

need_apt=()
dpkg -s "postgresql-server-dev-${PG_MAJOR}" >/dev/null 2>&1 || need_apt+=("postgresql-server-dev-${PG_MAJOR}")
command -v cmake >/dev/null || need_apt+=(cmake)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v make >/dev/null || need_apt+=(make)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s postgresql-${PG_MAJOR} >/dev/null 2>&1 || need_apt+=("postgresql-${PG_MAJOR}")
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$CACHE"
orig=$(ls "$CACHE"/timescaledb_"${TS_VERSION}"*.orig.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$orig" ]; then
  # A private apt configuration that adds trixie's deb-src, derived from the machine's own first source stanza,
  # so the machine's apt configuration is left untouched and no mirror is named here.
  aptdir="$CACHE/apt"
  mkdir -p "$aptdir/sources" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  awk 'BEGIN{RS="";ORS="\n\n"} NR==1{print}' /etc/apt/sources.list.d/debian.sources \
    | sed -e 's/^Types: .*/Types: deb-src/' -e 's/^Suites: .*/Suites: trixie/' > "$aptdir/sources/trixie-src.sources"
  opts=(-o "Dir::Etc::SourceParts=$aptdir/sources" -o "Dir::Etc::SourceList=/dev/null"
        -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq
  (cd "$CACHE" && apt-get "${opts[@]}" source --download-only "timescaledb=${TS_VERSION}*" 2>/dev/null \
     || apt-get "${opts[@]}" source --download-only timescaledb)
  orig=$(ls "$CACHE"/timescaledb_"${TS_VERSION}"*.orig.tar.* | head -n1)
fi

src="$CACHE/src-${TS_VERSION}"
rm -rf "$src" && mkdir -p "$src"
tar -xf "$orig" -C "$src" --strip-components=1
cd "$src"
./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DAPACHE_ONLY=1 -DSEND_TELEMETRY_DEFAULT=OFF -DUSE_TELEMETRY=OFF \
  -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >"$CACHE/bootstrap.log" 2>&1
cd build
make -j"$(nproc)" >"$CACHE/make.log" 2>&1
make install >"$CACHE/install.log" 2>&1
echo "timescaledb ${TS_VERSION} built and installed for PostgreSQL ${PG_MAJOR}"
