#!/usr/bin/env bash
# bench/compare.sh: xfer side by side with scp, rsync and tar | ssh on this
# machine, over loopback (and, with --shaped, over a 1 Gbit/s veth link).
#
# Usage (as root, on Debian or Ubuntu, from anywhere in a clone):
#
#   bench/compare.sh [--shaped] [--no-install] > results.md
#
# The Markdown report goes to stdout, progress to stderr. It installs what
# it needs with apt-get (openssh-server, openssh-client, rsync, time,
# procps, iproute2), builds xfer, xferd and two helpers from this clone
# (Go must be installed), starts its own throwaway servers on 127.0.0.1
# (sshd with a private sshd_config, host key and authorized key; an rsync
# daemon; xferd), generates the data on a private tmpfs, runs every case
# several times with the tools alternating, prints the tables, and removes
# everything it made on exit, also on failure or Ctrl-C. The system's own
# sshd and its configuration are not touched; while installing packages a
# temporary policy-rc.d keeps Debian from starting the system's ssh service.
#
# Environment:
#   RUNS=3          runs per tool and case (the median is reported)
#   SIZE_MB=1024    size of the random and the text file, in MiB
#   FILES=10000     files in the small-file tree ...
#   FILE_KB=4       ... of this many KiB each
#   TIMEOUT=300     seconds before one transfer counts as FAILED (hung)
#   CASES="random text tree"   which loopback cases to run
#   SHAPED_MBIT=1000           rate of the --shaped link
#   SHAPED_RUNS=$RUNS          runs per tool over the shaped link
#   XFER_REV        the commit to print when the tree is not a git checkout
#
# A quick check: SIZE_MB=64 RUNS=1 FILES=1000 bench/compare.sh
#
# How it measures (also printed with the report):
# - Wall time is the client command's, from start to exit; MB/s is 10^6
#   bytes of file data per second.
# - CPU and peak RSS come from getrusage of whole process trees, via GNU
#   time: the client runs as `time timeout bash -c CMD`, and every server
#   is started fresh for each run under its own `time` and stopped after
#   it (SIGTERM once its per-connection children have exited and been
#   reaped, which adds their usage to the daemon's), so the server figure
#   includes sshd's crypto, the remote scp/rsync/tar process and the
#   daemon's own start-up. CPU is user+system seconds; peak RSS is the
#   largest single process of that tree (ru_maxrss), not a sum.
# - Sources and destination are on tmpfs, so the page cache is warm and
#   no disk is involved. Each transfer starts with an empty destination.
# - The first round compares every byte of the output with its source;
#   later rounds check sizes (files) or file counts (trees).
# - Over the shaped link, "wire" is the bytes the client's veth end sent
#   (IP and TCP/UDP headers included, once per GSO packet); xfer's own
#   count (JSON wire_bytes) is shown beside it.
# - QUIC wants 8 MiB UDP socket buffers: net.core.rmem_max and wmem_max
#   are raised to that for the run if they are lower, and restored after.
set -Eeuo pipefail

RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-10000}
FILE_KB=${FILE_KB:-4}
TIMEOUT=${TIMEOUT:-300}
CASES=${CASES:-random text tree}
SHAPED_MBIT=${SHAPED_MBIT:-1000}
SHAPED_RUNS=${SHAPED_RUNS:-$RUNS}
SHAPED=0
INSTALL=1

for arg in "$@"; do
	case $arg in
	--shaped) SHAPED=1 ;;
	--no-install) INSTALL=0 ;;
	-h | --help)
		sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "compare.sh: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

say() { printf '%s\n' "$*" >&2; }
die() {
	say "compare.sh: error: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: it installs packages, mounts a tmpfs and starts sshd"
for v in RUNS SIZE_MB FILES FILE_KB TIMEOUT SHAPED_MBIT SHAPED_RUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T0=$EPOCHREALTIME

# ---------------------------------------------------------------------------
# Cleanup: everything made below is registered here and undone on exit.

WORK=""          # private temp dir (keys, configs, logs, binaries)
MNT=""           # our tmpfs mount, if any
DATA=""          # where the data lives (on MNT, /dev/shm or WORK)
SHM_DIR=""       # a dir under /dev/shm we made, if that was the fallback
NETNS=()         # network namespaces we made
PIDS=()          # background processes we started
SYSCTLS=()       # "key=old value" to restore
POLICY_RC=""     # /usr/sbin/policy-rc.d, if we wrote it
RUN_SSHD=""      # /run/sshd, if we made it

descendants() {
	local p
	for p in $(pgrep -P "$1" 2>/dev/null); do
		echo "$p"
		descendants "$p"
	done
}

# kill_tree PID: TERM the process and all its descendants, KILL stragglers.
kill_tree() {
	local all p i
	all="$1 $(descendants "$1")"
	for p in $all; do kill -TERM "$p" 2>/dev/null || true; done
	for i in $(seq 30); do
		local alive=0
		for p in $all; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
	wait "$1" 2>/dev/null || true
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

cleanup() {
	local rc=$? p kv
	trap - EXIT INT TERM
	set +e
	for p in "${PIDS[@]}"; do kill_tree "$p"; done
	for p in "${NETNS[@]}"; do ip netns del "$p" 2>/dev/null; done
	for kv in "${SYSCTLS[@]}"; do sysctl -q -w "$kv" >/dev/null; done
	[ -n "$POLICY_RC" ] && rm -f "$POLICY_RC"
	[ -n "$MNT" ] && { umount "$MNT" 2>/dev/null || umount -l "$MNT"; }
	[ -n "$SHM_DIR" ] && rm -rf "$SHM_DIR"
	[ -n "$WORK" ] && rm -rf "$WORK"
	[ -n "$RUN_SSHD" ] && rmdir "$RUN_SSHD" 2>/dev/null
	[ $rc = 0 ] || say "compare.sh: stopped (status $rc); everything it started or made has been removed"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Packages and build.

install_packages() {
	local pkgs=()
	[ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
	command -v ssh >/dev/null && command -v scp >/dev/null || pkgs+=(openssh-client)
	command -v rsync >/dev/null || pkgs+=(rsync)
	[ -x /usr/bin/time ] || pkgs+=(time)
	command -v pgrep >/dev/null || pkgs+=(procps)
	command -v ss >/dev/null && command -v ip >/dev/null && command -v tc >/dev/null || pkgs+=(iproute2)
	command -v cmp >/dev/null || pkgs+=(diffutils)
	[ ${#pkgs[@]} = 0 ] && return
	[ $INSTALL = 1 ] || die "missing packages: ${pkgs[*]} (run without --no-install, or install them)"
	command -v apt-get >/dev/null || die "missing packages: ${pkgs[*]}, and no apt-get to install them"
	say "installing ${pkgs[*]} ..."
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		# Keep Debian from starting the system's ssh service on install.
		POLICY_RC=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
	if [ -n "$POLICY_RC" ]; then
		rm -f "$POLICY_RC"
		POLICY_RC=""
	fi
}

find_go() {
	GO=$(command -v go || true)
	[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
	[ -n "$GO" ] || die "Go is needed to build xfer; install the version go.mod names from https://go.dev/dl"
}

# The data lives in memory (tmpfs): check that it fits before anything else.
SIZE=$((SIZE_MB * 1048576))
TREE_BYTES=$((FILES * FILE_KB * 1024))
# Two sources, one destination copy, the tree twice (a page per file at least).
page_kb=$(($(getconf PAGESIZE) / 1024))
big=0 tree=0 # which data the chosen cases need
for c in $CASES; do
	case $c in
	random | text) big=1 ;;
	tree) tree=1 ;;
	*) die "unknown case $c in CASES (random, text, tree)" ;;
	esac
done
[ $SHAPED = 1 ] && big=1
file_mb=$(((FILES * (FILE_KB > page_kb ? FILE_KB : page_kb) + 1023) / 1024))
NEED_MB=$((big * 3 * SIZE_MB + tree * 2 * file_mb + 256))
avail_mb=$(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024))
[ $((NEED_MB + 1024)) -le "$avail_mb" ] ||
	die "the data needs about ${NEED_MB} MiB of memory (tmpfs) plus 1 GiB to spare, only ${avail_mb} MiB are available; try SIZE_MB=$(((avail_mb - 1024 - 2 * file_mb - 256) / 3))"

install_packages
find_go

WORK=$(mktemp -d /tmp/xfer-bench.XXXXXX)
BIN=$WORK/bin
LOG=$WORK/log
mkdir -p "$BIN" "$LOG" "$WORK/ssh" "$WORK/xfer" "$WORK/out"
say "building xfer, xferd, gendata, quiccopy ..."
(cd "$REPO" && "$GO" build -o "$BIN/" ./cmd/xfer ./cmd/xferd ./bench/gendata ./bench/quiccopy) >&2 ||
	die "go build failed"

# ---------------------------------------------------------------------------
# Data on tmpfs.

DATA_NOTE="a private tmpfs"
MNT=$WORK/data
mkdir -p "$MNT"
if ! mount -t tmpfs -o "size=${NEED_MB}m,mode=0755" xfer-bench "$MNT" 2>/dev/null; then
	rmdir "$MNT"
	MNT=""
	shm_avail=$(df -Pm /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ "${shm_avail:-0}" -ge "$NEED_MB" ]; then
		SHM_DIR=$(mktemp -d /dev/shm/xfer-bench.XXXXXX)
		DATA=$SHM_DIR
		DATA_NOTE="tmpfs (/dev/shm; mounting a private tmpfs failed)"
	else
		DATA=$WORK/data
		mkdir -p "$DATA"
		DATA_NOTE="DISK ($WORK; no tmpfs available): figures include the file system"
	fi
else
	DATA=$MNT
fi
SRC=$DATA/src
DST=$DATA/dst
SERVE=$DATA/serve # xferd's root for downloads: hard links to the sources
mkdir -p "$SRC" "$DST" "$SERVE"

say "generating data in $DATA: ${SIZE_MB} MiB random, ${SIZE_MB} MiB text, ${FILES} × ${FILE_KB} KiB files ..."
if [ $big = 1 ]; then
	"$BIN/gendata" random "$SRC/random.bin" "$SIZE"
	"$BIN/gendata" text "$SRC/text.bin" "$SIZE"
	ln "$SRC/random.bin" "$SRC/text.bin" "$SERVE/"
fi
[ $tree = 0 ] || "$BIN/gendata" tree "$SRC/tree" "$FILES" $((FILE_KB * 1024))

# ---------------------------------------------------------------------------
# Keys, configurations, ports.

used_ports() { ss -Htuan 2>/dev/null | awk '{n = split($5, a, ":"); print a[n]}'; }
PORTS_TAKEN=" $(used_ports | tr '\n' ' ') "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case $PORTS_TAKEN in *" $p "*) continue ;; esac
		PORTS_TAKEN+="$p "
		echo "$p"
		return
	done
}
SSH_PORT=$(free_port)
RSYNC_PORT=$(free_port)
XFER_PORT=$(free_port)
QC_PORT=$(free_port)

SHAPED_SRV_IP=10.203.0.1
SHAPED_CLI_IP=10.203.0.2

SSHD=/usr/sbin/sshd
SFTP_SERVER=internal-sftp
for f in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
	[ -x "$f" ] && SFTP_SERVER=$f && break
done
ssh-keygen -q -t ed25519 -N '' -C xfer-bench-host -f "$WORK/ssh/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C xfer-bench-user -f "$WORK/ssh/id_ed25519"
cp "$WORK/ssh/id_ed25519.pub" "$WORK/ssh/authorized_keys"
{
	echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$WORK/ssh/host_ed25519.pub")"
	echo "[$SHAPED_SRV_IP]:$SSH_PORT $(cut -d' ' -f1,2 "$WORK/ssh/host_ed25519.pub")"
} >"$WORK/ssh/known_hosts"
for where in lo shaped; do
	addr=127.0.0.1
	[ $where = shaped ] && addr=$SHAPED_SRV_IP
	cat >"$WORK/ssh/sshd_$where.conf" <<EOF
Port $SSH_PORT
ListenAddress $addr
HostKey $WORK/ssh/host_ed25519
PidFile none
AuthorizedKeysFile $WORK/ssh/authorized_keys
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
X11Forwarding no
Subsystem sftp $SFTP_SERVER
EOF
done
SSH_CFG=$WORK/ssh/ssh_config
cat >"$SSH_CFG" <<EOF
Host bench-lo
  HostName 127.0.0.1
Host bench-shaped
  HostName $SHAPED_SRV_IP
Host *
  Port $SSH_PORT
  User root
  IdentityFile $WORK/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $WORK/ssh/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  LogLevel ERROR
  ControlMaster no
  ControlPath none
  Compression no
EOF
if [ ! -d /run/sshd ]; then # sshd's privilege separation directory
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	RUN_SSHD=/run/sshd
fi
"$SSHD" -t -f "$WORK/ssh/sshd_lo.conf" || die "sshd rejects its configuration $WORK/ssh/sshd_lo.conf"
SSH_CIPHER=$(ssh -F "$SSH_CFG" -G bench-lo | awk '$1 == "ciphers" {split($2, c, ","); print c[1]}')

cat >"$WORK/rsyncd.conf" <<EOF
use chroot = no
uid = root
gid = root
log file = $LOG/rsyncd.log
[bench]
    path = $DST
    read only = no
EOF

"$BIN/xfer" keygen -i "$WORK/xfer/id" -C xfer-bench >/dev/null
XOPTS="-i $WORK/xfer/id --known-hosts $WORK/xfer/known_hosts --accept-new-host"

# QUIC wants 8 MiB UDP socket buffers (xferd says so); raise the limits for
# the run and restore them on exit.
for key in net.core.rmem_max net.core.wmem_max; do
	old=$(sysctl -n "$key" 2>/dev/null || echo "")
	if [ -n "$old" ] && [ "$old" -lt 8388608 ] && sysctl -q -w "$key=8388608" 2>/dev/null; then
		SYSCTLS+=("$key=$old")
	fi
done

# ---------------------------------------------------------------------------
# Servers: one fresh instance per run, under GNU time.

NS_S="" # namespace the servers run in (shaped link), "" for loopback
NS_C="" # namespace the clients run in
HOST=127.0.0.1
SSH_HOST=bench-lo
SRV_PID=""
SRV_KIND=""
SRV_TIME=$WORK/server.time
SRV_LOG=$LOG/server.log
SRV_LOG_FROM=1

in_ns() { # in_ns NS CMD...: run CMD in namespace NS ("" = here)
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

listening() { # listening tcp|udp PORT
	local flag=-Hltn
	[ "$1" = udp ] && flag=-Hlun
	[ -n "$(in_ns "$NS_S" ss $flag "sport = :$2" 2>/dev/null)" ]
}

# start_server KIND [ARG]: sshd, rsyncd, xferd ROOT, quiccopy OUTFILE.
start_server() {
	local kind=$1 arg=${2:-} cmd want=() i w ok
	case $kind in
	sshd)
		local where=lo
		[ -n "$NS_S" ] && where=shaped
		cmd=("$SSHD" -D -e -f "$WORK/ssh/sshd_$where.conf")
		want=("tcp $SSH_PORT")
		;;
	rsyncd)
		cmd=(rsync --daemon --no-detach "--config=$WORK/rsyncd.conf" "--address=$HOST" "--port=$RSYNC_PORT")
		want=("tcp $RSYNC_PORT")
		;;
	xferd)
		cmd=("$BIN/xferd" --root "$arg" --listen "$HOST:$XFER_PORT" --host-key "$WORK/xfer/host_key"
			--authorized-keys "$WORK/xfer/id.pub" --log-level warn)
		want=("tcp $XFER_PORT" "udp $XFER_PORT")
		;;
	quiccopy)
		cmd=("$BIN/quiccopy" serve "$HOST:$QC_PORT" "$arg")
		want=("udp $QC_PORT")
		;;
	esac
	local pre=()
	[ -n "$NS_S" ] && pre=(ip netns exec "$NS_S")
	rm -f "$SRV_TIME"
	echo "--- $(date -u +%T) $kind" >>"$SRV_LOG"
	SRV_LOG_FROM=$(wc -l <"$SRV_LOG")
	/usr/bin/time -f '%e %U %S %M' -o "$SRV_TIME" "${pre[@]}" "${cmd[@]}" >>"$SRV_LOG" 2>&1 &
	SRV_PID=$!
	SRV_KIND=$kind
	PIDS+=("$SRV_PID")
	for i in $(seq 200); do
		ok=1
		for w in "${want[@]}"; do
			# shellcheck disable=SC2086 # "proto port"
			listening $w || ok=0
		done
		[ $ok = 1 ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	say "  $kind did not start listening; its log:"
	tail -n 5 "$SRV_LOG" | sed 's/^/    /' >&2
	stop_server
	return 1
}

# stop_server: end the current server (quiccopy ends by itself after one
# connection) and leave its "wall user sys maxrss" in SRV_TIME.
stop_server() {
	[ -n "$SRV_PID" ] || return 0
	local daemon i
	daemon=$(pgrep -P "$SRV_PID" | head -n 1 || true)
	if [ -n "$daemon" ] && [ "$SRV_KIND" != quiccopy ]; then
		# sshd and the rsync daemon fork a child per connection: let it
		# finish and be reaped (pgrep lists zombies too), so that its
		# usage is added to the daemon's, then stop the daemon.
		for i in $(seq 200); do
			[ -z "$(pgrep -P "$daemon")" ] && break
			sleep 0.05
		done
		kill -TERM "$daemon" 2>/dev/null
	fi
	for i in $(seq 200); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SRV_PID" 2>/dev/null; then
		say "  $SRV_KIND did not exit; killing it"
		kill_tree "$SRV_PID"
	fi
	wait "$SRV_PID" 2>/dev/null || true
	forget_pid "$SRV_PID"
	SRV_PID=""
}

# time_fields FILE: "user+sys maxrss_kb" from a GNU time -f '%e %U %S %M' file.
time_fields() {
	[ -s "$1" ] || {
		echo "- -"
		return
	}
	tail -n 1 "$1" | awk 'NF == 4 {printf "%.3f %d\n", $2 + $3, $4; ok = 1} END {if (!ok) print "- -"}'
}

veth_tx() { # bytes the client's end of the shaped link has sent
	[ -n "$NS_C" ] || {
		echo -
		return
	}
	ip netns exec "$NS_C" cat /proc/net/dev | awk -v d="$VETH_C:" '$1 == d {print $10}'
}

# ---------------------------------------------------------------------------
# Tools. spec TOOL CASE sets SERVER, SERVER_ARG, CMD (a bash command line),
# OUT (what the transfer produces) and IS_XFER.

spec() {
	local tool=$1 case=$2 src r=""
	if [ "$case" = tree ]; then
		src=$SRC/tree
		OUT=$DST/tree
		r=-r
	else
		src=$SRC/$case.bin
		OUT=$DST/$case.bin
	fi
	SERVER=sshd
	SERVER_ARG=""
	IS_XFER=0
	case $tool in
	xfer-tcp | xfer-quic)
		local scheme=""
		[ "$tool" = xfer-quic ] && scheme=quic://
		SERVER=xferd SERVER_ARG=$DST IS_XFER=1
		CMD="$BIN/xfer send --json $XOPTS $src $scheme$HOST:$XFER_PORT/"
		;;
	xfer-get)
		SERVER=xferd SERVER_ARG=$SERVE IS_XFER=1
		CMD="$BIN/xfer get --json $XOPTS $HOST:$XFER_PORT/$case.bin $OUT"
		;;
	quic-go)
		SERVER=quiccopy SERVER_ARG=$OUT
		CMD="$BIN/quiccopy send $src $HOST:$QC_PORT"
		;;
	scp) CMD="scp -q $r -F $SSH_CFG $src $SSH_HOST:$DST/" ;;
	scp-gcm) CMD="scp -q $r -F $SSH_CFG -c aes128-gcm@openssh.com $src $SSH_HOST:$DST/" ;;
	rsync-ssh)
		if [ "$case" = tree ]; then
			CMD="rsync -a -e 'ssh -F $SSH_CFG' $src $SSH_HOST:$DST/"
		else
			CMD="rsync --whole-file -e 'ssh -F $SSH_CFG' $src $SSH_HOST:$DST/"
		fi
		;;
	rsyncd)
		SERVER=rsyncd
		CMD="rsync --whole-file $src rsync://$HOST:$RSYNC_PORT/bench/"
		;;
	tar-ssh) CMD="tar -C $SRC -cf - tree | ssh -F $SSH_CFG $SSH_HOST 'tar -C $DST -xf -'" ;;
	*) die "unknown tool $tool" ;;
	esac
}

# verify CASE ROUND: is OUT a copy of the source?
verify() {
	local case=$1 round=$2
	if [ "$case" = tree ]; then
		if [ "$round" = 1 ]; then
			diff -rq "$SRC/tree" "$OUT" >/dev/null 2>&1
		else
			[ "$(find "$OUT" -type f 2>/dev/null | wc -l)" = "$FILES" ]
		fi
	elif [ "$round" = 1 ]; then
		cmp -s "$SRC/$case.bin" "$OUT"
	else
		[ "$(stat -c %s "$OUT" 2>/dev/null)" = "$SIZE" ]
	fi
}

RESULTS=$WORK/results.tsv
FAILURES=$WORK/failures.md
: >"$RESULTS"
: >"$FAILURES"
declare -A BROKEN # SECTION/CASE/TOOL that failed once: not run again

# run_one SECTION CASE TOOL ROUND: one transfer, one line in RESULTS.
run_one() {
	local section=$1 case=$2 tool=$3 round=$4
	local key=$section/$case/$tool status=ok rc=0 t1 t2 wall
	[ -z "${BROKEN[$key]:-}" ] || return 0
	spec "$tool" "$case"
	rm -rf "$DST"
	mkdir -p "$DST"
	local bytes=$SIZE files=1
	[ "$case" = tree ] && bytes=$TREE_BYTES files=$FILES

	local cout=$WORK/out/client.out cerr=$WORK/out/client.err ctime=$WORK/out/client.time
	rm -f "$ctime"
	if ! start_server "$SERVER" "$SERVER_ARG"; then
		status="server did not start"
	else
		local tx0 tx1
		tx0=$(veth_tx)
		local pre=()
		[ -n "$NS_C" ] && pre=(ip netns exec "$NS_C")
		t1=$EPOCHREALTIME
		/usr/bin/time -f '%e %U %S %M' -o "$ctime" \
			timeout -k 10 "$TIMEOUT" "${pre[@]}" bash -c "set -o pipefail; $CMD" >"$cout" 2>"$cerr" &
		local cpid=$!
		PIDS+=("$cpid")
		wait "$cpid" || rc=$?
		t2=$EPOCHREALTIME
		forget_pid "$cpid"
		tx1=$(veth_tx)
		stop_server
		if [ $rc = 124 ] || [ $rc = 137 ]; then
			status="timeout after ${TIMEOUT} s"
		elif [ $rc != 0 ]; then
			status="exit status $rc"
		elif [ $IS_XFER = 1 ] && ! grep -q '"event":"summary".*"ok":true' "$cout"; then
			status="no ok summary in --json output"
		elif ! verify "$case" "$round"; then
			status="output differs from the source"
		fi
	fi

	wall=$(awk -v a="$t1" -v b="${t2:-$t1}" 'BEGIN {printf "%.3f", b - a}')
	local c s wire=- vtx=-
	c=$(time_fields "$ctime")
	s=$(time_fields "$SRV_TIME")
	if [ $IS_XFER = 1 ]; then
		wire=$(sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p' "$cout" | tail -n 1)
		wire=${wire:--}
	fi
	[ -n "${tx0:-}" ] && [ "${tx0:--}" != - ] && [ -n "${tx1:-}" ] && vtx=$((tx1 - tx0))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$section" "$case" "$tool" "$round" "$status" "$wall" \
		"${c% *}" "${s% *}" "${c#* }" "${s#* }" "$bytes" "$files" "$wire" "$vtx" >>"$RESULTS"

	if [ "$status" = ok ]; then
		say "$(printf '  %-7s %-6s %-10s run %s: %7.2f s %8.1f MB/s' "$section" "$case" "$tool" "$round" "$wall" \
			"$(awk -v b="$bytes" -v w="$wall" 'BEGIN {print b / w / 1e6}')")"
	else
		BROKEN[$key]=1
		say "  $section $case $tool run $round: FAILED: $status"
		{
			echo "- **$section, $case, $tool, run $round: $status** after $wall s."
			echo "  Command: \`${CMD//$WORK/\$WORK}\`"
			if [ -s "$cerr" ]; then
				echo "  Client stderr (last lines):"
				echo
				tail -n 8 "$cerr" | sed "s|$WORK|\$WORK|g; s/^/      /"
				echo
			fi
			echo "  Server log (last lines):"
			echo
			tail -n +"$SRV_LOG_FROM" "$SRV_LOG" | tail -n 8 | sed "s|$WORK|\$WORK|g; s/^/      /"
			echo
		} >>"$FAILURES"
	fi
	rm -rf "$DST"
	mkdir -p "$DST"
}

# run_case SECTION CASE RUNS TOOL...: RUNS rounds; within a round every tool
# runs once, starting one tool later each round.
run_case() {
	local section=$1 case=$2 runs=$3
	shift 3
	local tools=("$@") n=$# r i
	say "$section: $case (${runs} rounds, tools alternating)"
	for r in $(seq "$runs"); do
		for i in $(seq 0 $((n - 1))); do
			run_one "$section" "$case" "${tools[$(((i + r - 1) % n))]}" "$r"
		done
	done
}

# ---------------------------------------------------------------------------
# Preflight: the peers' servers must work, or the comparison means nothing.

say "preflight: sshd, rsync daemon, xferd ..."
start_server sshd || die "the throwaway sshd does not start; see above"
ssh -F "$SSH_CFG" bench-lo true 2>"$WORK/out/pre.err" || {
	cat "$WORK/out/pre.err" >&2
	die "cannot log in to the throwaway sshd; its log: $(tail -n 5 "$SRV_LOG")"
}
stop_server
start_server rsyncd || die "the throwaway rsync daemon does not start"
rsync "rsync://$HOST:$RSYNC_PORT/" >/dev/null || die "the rsync daemon does not answer"
stop_server
if start_server xferd "$DST"; then
	head -c 1000 /dev/zero >"$WORK/out/pre.bin"
	# shellcheck disable=SC2086 # XOPTS is a list of flags
	"$BIN/xfer" send -q $XOPTS "$WORK/out/pre.bin" "$HOST:$XFER_PORT/" ||
		say "WARNING: xfer cannot send a 1000-byte file to xferd; its cases will show FAILED"
	stop_server
else
	say "WARNING: xferd does not start; its cases will show FAILED"
fi
rm -rf "$DST" && mkdir -p "$DST"

# ---------------------------------------------------------------------------
# The report's header, then the runs.

rev=${XFER_REV:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "unknown")}
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
cat <<EOF
## xfer benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
- xfer $rev, $("$GO" version | awk '{print $3}'); $(ssh -V 2>&1 | cut -d, -f1) (scp's default cipher here: ${SSH_CIPHER:-?}); $(rsync --version | head -n 1 | awk '{print "rsync", $3}')
- Load average at the start (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg)
- Settings: RUNS=$RUNS, SIZE_MB=$SIZE_MB, FILES=$FILES × ${FILE_KB} KiB, TIMEOUT=${TIMEOUT} s; data and destination on $DATA_NOTE${SYSCTLS:+; UDP buffer limits raised to 8 MiB for the run}
EOF

FILE_TOOLS=(xfer-tcp xfer-quic xfer-get quic-go scp scp-gcm rsync-ssh rsyncd)
TREE_TOOLS=(xfer-tcp xfer-quic tar-ssh rsync-ssh scp)
for case in $CASES; do
	case $case in
	random | text) run_case loopback "$case" "$RUNS" "${FILE_TOOLS[@]}" ;;
	tree) run_case loopback tree "$RUNS" "${TREE_TOOLS[@]}" ;;
	*) die "unknown case $case in CASES (random, text, tree)" ;;
	esac
done

if [ $SHAPED = 1 ]; then
	NS_SRV=xfb-srv-$$
	NS_CLI=xfb-cli-$$
	VETH_S=xfbs$$
	VETH_C=xfbc$$
	say "shaped link: namespaces $NS_SRV and $NS_CLI, veth with tbf ${SHAPED_MBIT} mbit/s both ways"
	ip netns add "$NS_SRV" && NETNS+=("$NS_SRV")
	ip netns add "$NS_CLI" && NETNS+=("$NS_CLI")
	ip link add "$VETH_S" netns "$NS_SRV" type veth peer name "$VETH_C" netns "$NS_CLI"
	ip -n "$NS_SRV" addr add "$SHAPED_SRV_IP/24" dev "$VETH_S"
	ip -n "$NS_CLI" addr add "$SHAPED_CLI_IP/24" dev "$VETH_C"
	for ns_dev in "$NS_SRV $VETH_S" "$NS_CLI $VETH_C"; do
		set -- $ns_dev
		ip -n "$1" link set lo up
		ip -n "$1" link set "$2" up
		tc -n "$1" qdisc add dev "$2" root tbf rate "${SHAPED_MBIT}mbit" burst 256kb latency 50ms
	done
	NS_S=$NS_SRV NS_C=$NS_CLI HOST=$SHAPED_SRV_IP SSH_HOST=bench-shaped
	for case in text random; do
		run_case shaped "$case" "$SHAPED_RUNS" xfer-tcp xfer-quic scp
	done
	NS_S="" NS_C="" HOST=127.0.0.1 SSH_HOST=bench-lo
fi

# ---------------------------------------------------------------------------
# The tables.

report() {
	awk -F'\t' -v GiB=1073741824 -v link_mbit="$SHAPED_MBIT" '
function label(tool, c) {
	if (tool == "xfer-tcp") return "xfer (TCP)"
	if (tool == "xfer-quic") return "xfer (QUIC)"
	if (tool == "xfer-get") return "xfer get (TCP, download)"
	if (tool == "quic-go") return "bare quic-go stream (baseline for QUIC)"
	if (tool == "scp") return (c == "tree" ? "scp -r" : "scp")
	if (tool == "scp-gcm") return "scp -c aes128-gcm@openssh.com"
	if (tool == "rsync-ssh") return (c == "tree" ? "rsync -a over ssh" : "rsync --whole-file over ssh")
	if (tool == "rsyncd") return "rsync daemon (not encrypted)"
	if (tool == "tar-ssh") return "tar \\| ssh tar -x"
	return tool
}
function title(s, c) {
	if (c == "random") t = size_mib " MiB random"
	else if (c == "text") t = size_mib " MiB text (LZ4 about 2.2×)"
	else t = nfiles " files × " fkib " KiB in a tree"
	return t (s == "shaped" ? ", " link_mbit " Mbit/s shaped link" : ", loopback")
}
function median(arr, k, n,    a, i, j, t) {
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = arr[k, i] + 0
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function f(x, d) { return x == "" ? "—" : sprintf("%." d "f", x) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
{
	k = $1 SUBSEP $2 SUBSEP $3
	if (!(k in seen)) { seen[k] = 1; order[++n] = k; sec[k] = $1; cs[k] = $2; tl[k] = $3; nfiles_k[k] = $12 }
	if ($2 != "tree") size_mib = $11 / 1048576
	else { nfiles = $12; fkib = $11 / $12 / 1024 }
	runs[k]++
	if ($5 != "ok") { if (!(k in why)) why[k] = $5; next }
	i = ++ok[k]
	unit = ($2 == "tree") ? $12 / 1000 : $11 / GiB
	rate[k, i] = $11 / $6 / 1e6
	frate[k, i] = $12 / $6
	if ($7 != "-") { cc[k, ++ncc[k]] = $7 / unit }
	if ($8 != "-") { sc[k, ++nsc[k]] = $8 / unit }
	if ($7 != "-" && $8 != "-") { tc[k, ++ntc[k]] = ($7 + $8) / unit; busy[k, ++nbusy[k]] = ($7 + $8) / $6 }
	if ($9 != "-" && $9 > crss[k]) crss[k] = $9
	if ($10 != "-" && $10 > srss[k]) srss[k] = $10
	if ($13 != "-") wj[k, ++nwj[k]] = $13 / $11
	if ($14 != "-") wv[k, ++nwv[k]] = $14 / $11
}
END {
	for (j = 1; j <= n; j++) {
		k = order[j]
		good[k] = !(k in why) && ok[k] > 0
		m_rate[k] = good[k] ? median(rate, k, ok[k]) : ""
		m_frate[k] = good[k] ? median(frate, k, ok[k]) : ""
		m_tc[k] = median(tc, k, ntc[k])
		m_wj[k] = median(wj, k, nwj[k])
		m_wv[k] = median(wv, k, nwv[k])
	}
	last = ""
	for (j = 1; j <= n; j++) {
		k = order[j]; s = sec[k]; c = cs[k]
		if (s SUBSEP c != last) {
			last = s SUBSEP c
			tree = (c == "tree")
			ref = s SUBSEP c SUBSEP "xfer-tcp"
			printf "\n### %s\n\n", title(s, c)
			cpuunit = tree ? "s/1k files" : "s/GiB"
			if (s == "shaped")
				printf "| tool | MB/s | runs | CPU client %s | CPU server %s | cores busy | wire ÷ data (veth) | wire ÷ data (xfer JSON) | xfer TCP ÷ this |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", cpuunit, cpuunit
			else
				printf "| tool | %s | runs | CPU client %s | CPU server %s | CPU total %s | cores busy | peak RSS client MiB | peak RSS server MiB | wire ÷ data | xfer TCP ÷ this |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", tree ? "files/s (MB/s)" : "MB/s", cpuunit, cpuunit, cpuunit
		}
		if (good[k]) speed = tree ? sprintf("%.0f (%.1f)", m_frate[k], m_rate[k]) : sprintf("%.1f", m_rate[k])
		else speed = "**FAILED** (" (k in why ? why[k] : "no run") ")"
		rr = (k == ref || !good[k]) ? "" : ratio(m_rate[ref], m_rate[k])
		nr = ok[k] + 0 "/" runs[k]
		if (s == "shaped")
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(tl[k], c), speed, nr,
				f(median(cc, k, ncc[k]), 2), f(median(sc, k, nsc[k]), 2), f(median(busy, k, nbusy[k]), 2),
				f(m_wv[k], 3), f(m_wj[k], 3), f(rr, 2)
		else
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(tl[k], c), speed, nr,
				f(median(cc, k, ncc[k]), 2), f(median(sc, k, nsc[k]), 2), f(m_tc[k], 2), f(median(busy, k, nbusy[k]), 2),
				f(crss[k] == "" ? "" : crss[k] / 1024, 0), f(srss[k] == "" ? "" : srss[k] / 1024, 0), f(m_wj[k], 3), f(rr, 2)
	}

	# Targets of the performance issue, as ratios from this run.
	printf "\n### Targets (ratios from this run)\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n"
	L = "loopback"; S = "shaped"
	target("xfer TCP ÷ scp, random", r(L, "random", "xfer-tcp", "scp"), 1.5, ">=")
	target("xfer TCP ÷ scp aes128-gcm, random", r(L, "random", "xfer-tcp", "scp-gcm"), 1.1, ">=")
	target("xfer CPU s/GiB ÷ scp CPU s/GiB (both ends), random", cr(L, "random", "xfer-tcp", "scp"), 0.8, "<=")
	target("xfer TCP ÷ scp, text", r(L, "text", "xfer-tcp", "scp"), 1.3, ">=")
	target("xfer ÷ rsync -a over ssh, tree", r(L, "tree", "xfer-tcp", "rsync-ssh"), 1.0, ">=")
	target("xfer ÷ tar \\| ssh, tree", r(L, "tree", "xfer-tcp", "tar-ssh"), 1.0, ">=")
	target("xfer QUIC ÷ bare quic-go stream, random", r(L, "random", "xfer-quic", "quic-go"), 0.7, ">=")
	target("xfer QUIC ÷ bare quic-go stream, text", r(L, "text", "xfer-quic", "quic-go"), 0.7, ">=")
	target("xfer get ÷ xfer send, random", r(L, "random", "xfer-get", "xfer-tcp"), 0.9, ">=")
	target("xfer get ÷ xfer send, text", r(L, "text", "xfer-get", "xfer-tcp"), 0.9, ">=")
	target("shaped: xfer TCP ÷ scp, text", r(S, "text", "xfer-tcp", "scp"), 1.8, ">=")
	target("shaped: xfer wire bytes ÷ data, text", w(S, "text", "xfer-tcp"), 0.5, "<=")
	target("shaped: xfer TCP ÷ link rate, random", lr(S, "random", "xfer-tcp"), 0.9, ">=")
}
function key(s, c, t) { return s SUBSEP c SUBSEP t }
function r(s, c, a, b) { if (!((key(s, c, a)) in seen) || !((key(s, c, b)) in seen)) return "skip"; return ratio(m_rate[key(s, c, a)], m_rate[key(s, c, b)]) }
function cr(s, c, a, b) { if (!((key(s, c, a)) in seen) || !((key(s, c, b)) in seen)) return "skip"; return (good[key(s, c, a)] && good[key(s, c, b)]) ? ratio(m_tc[key(s, c, a)], m_tc[key(s, c, b)]) : "" }
function w(s, c, a) { if (!((key(s, c, a)) in seen)) return "skip"; return good[key(s, c, a)] ? (m_wv[key(s, c, a)] != "" ? m_wv[key(s, c, a)] : m_wj[key(s, c, a)]) : "" }
function lr(s, c, a) { if (!((key(s, c, a)) in seen)) return "skip"; return good[key(s, c, a)] ? m_rate[key(s, c, a)] / (link_mbit / 8) : "" }
function target(name, v, goal, op) {
	if (v == "skip") return
	if (v == "") { printf "| %s | FAILED | %s %s | no |\n", name, (op == ">=" ? "≥" : "≤"), goal; return }
	met = (op == ">=") ? (v >= goal) : (v <= goal)
	printf "| %s | %.2f | %s %s | %s |\n", name, v, (op == ">=" ? "≥" : "≤"), goal, met ? "yes" : "**no**"
}
' "$RESULTS"
}

report
if [ -s "$FAILURES" ]; then
	printf '\n### Failures\n\n'
	cat "$FAILURES"
fi
cat <<EOF

Method: wall time of the client command; CPU (user+system) and peak RSS
from getrusage of each side's whole process tree via GNU time, with a
fresh server per run, stopped once its per-connection children have
exited, so server CPU includes sshd's encryption and the remote
scp/rsync/tar. Peak RSS is the largest process of a tree. Medians of the
runs; "xfer TCP ÷ this" divides xfer's median MB/s by the row's (so for
"xfer get" it is send ÷ get, for xfer QUIC it is TCP ÷ QUIC). "wire ÷
data" is xfer's JSON wire_bytes (loopback) or the bytes sent by the
client's veth (shaped link) over the file bytes. "cores busy" is CPU
seconds of both ends per second of wall time: well below the number of
CPUs means waiting (on the network, on each other, or on other load).
Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Total time: $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f s", b - a}').
EOF
say "done in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f s", b - a}')"
