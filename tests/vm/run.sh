#!/bin/sh
# tests/vm/run.sh [--kernel 6.1|5.10] [SUITE]: boot a stock Debian cloud kernel
# under QEMU and run the integration tests SUITE lists inside it.
#
#   6.1 (default)  Debian 12's linux-image-6.1.0-*-cloud-amd64-unsigned, what
#                  Debian 12 cloud images boot: tidemark's floor. SUITE defaults
#                  to tests/vm/suite, the ground truth.
#   5.10           Debian 11's linux-image-5.10.0-*-cloud-amd64-unsigned (with
#                  BTF), below the floor. SUITE defaults to tests/vm/floor.suite:
#                  every command refuses in one line and touches nothing.
#
# The guest sees the host's root filesystem read-only over virtiofs (QEMU's own
# virtiofsd, no extra package), with a tmpfs overlay for writes: the tests run
# against this tree's build, Debian's python3.11 and the pyenv interpreters as
# they are on the host, with nothing to copy or pack but a busybox initramfs
# with the kernel's own virtio/fuse/overlay modules. The kernel package is
# fetched once with apt-get download into $TM_VM_CACHE: 6.1 from the host's own
# package index (bookworm), 5.10 from bullseye and bullseye-security through a
# package index of its own in a temporary directory (the host's apt sources and
# state are not touched; apt checks the package against the signed Release with
# debian-archive-keyring, which holds bullseye's keys). When Debian 11's archive
# cannot be reached and no 5.10 package is cached, the 5.10 guest is skipped
# with the reason.
#
# Prints "guest-K: ..." lines and closes with "guest-K: N passed, N failed,
# N skipped" (tests/run.sh adds it to make test's totals). TCG: no /dev/kvm needed.
#
#   TM_VM_CACHE=/var/cache/tidemark-vm   kernels, initramfs
#   TM_VM_KERNEL_DEB=PATH                use this kernel package
#   TM_VM_DEBIAN=http://deb.debian.org   the Debian archive 5.10 comes from
#   TM_VM_MEM=4G TM_VM_CPUS=2            guest size (5.10: 1G)
#   TM_VM_TIMEOUT=2400                   seconds before the guest is stopped
#   TM_VM_FILE_TIMEOUT=900               seconds before one test file is stopped
#   TM_VM_TCG=single                     QEMU's TCG threads: single (one for all vCPUs) or multi
#
# The guest reads this tree live: do not rebuild while it runs. Its console is
# left in tests/out/vm-console-K.log.
set -u
cd "$(dirname "$0")/../.."
tree=$(pwd)
kv=6.1
if [ "${1:-}" = --kernel ]; then
	kv=${2:-}
	[ $# -ge 2 ] && shift 2 || shift
fi
case $kv in
6.1)	suite=${1:-tests/vm/suite} mem=${TM_VM_MEM:-4G} ;;
5.10)	suite=${1:-tests/vm/floor.suite} mem=${TM_VM_MEM:-1G} ;;
*)	echo "tests/vm/run.sh: no guest kernel '$kv': use --kernel 6.1 or --kernel 5.10" >&2; exit 2 ;;
esac
cache=${TM_VM_CACHE:-/var/cache/tidemark-vm}
cpus=${TM_VM_CPUS:-2}
timeout=${TM_VM_TIMEOUT:-2400}
per_file=${TM_VM_FILE_TIMEOUT:-900}
P=guest-$kv

skip() { echo "$P: skip: $*" >&2; echo "$P: 0 passed, 0 failed, 1 skipped"; exit 0; }
fail() { echo "$P: $*" >&2; echo "$P: 0 passed, 1 failed, 0 skipped"; exit 1; }

[ "$(id -u)" = 0 ] || skip "the guest's virtiofs share of / needs root"
[ "$(uname -m)" = x86_64 ] || skip "the kernel matrix boots x86-64 Debian kernels; this is $(uname -m)"

missing=
for p in qemu-system-x86 busybox-static cpio; do
	dpkg-query -W -f='${Status}\n' $p 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "$P: installing$missing" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null 2>&1 ||
		fail "apt-get install$missing failed: install them by hand"
fi
virtiofsd=/usr/lib/qemu/virtiofsd
[ -x $virtiofsd ] || fail "$virtiofsd missing (it comes with qemu-system-common)"

mkdir -p "$cache" || fail "cannot create $cache: set TM_VM_CACHE to a writable directory"
# Debian 11's 5.10 from its own archive, with a package index of its own in a
# temporary directory: the newest package that downloads (a mirror may lag the
# index it serves), checked by apt against bullseye's signed Release files.
fetch_bullseye() {
	mirror=${TM_VM_DEBIAN:-http://deb.debian.org}
	keys=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -s $keys ] || skip "$keys missing (debian-archive-keyring): cannot check Debian 11's packages"
	a=$(mktemp -d "$cache/apt-bullseye.XXXXXX") || fail "mktemp in $cache failed"
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/deb"
	cat > "$a/sources.list" <<-EOS
	deb [signed-by=$keys] $mirror/debian bullseye main
	deb [signed-by=$keys] $mirror/debian-security bullseye-security main
	EOS
	set -- -o Dir::Etc::sourcelist="$a/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o APT::Sandbox::User=root
	echo "$P: fetching Debian 11's package index from $mirror" >&2
	if ! apt-get "$@" update -qq > "$a/log" 2>&1 || grep -q '^E: \|^W: \(Failed\|Some index\)' "$a/log"; then
		why=$(grep -m 1 '^[EW]: ' "$a/log")
		rm -rf "$a"
		skip "Debian 11's archive ($mirror/debian bullseye) is unreachable (${why:-apt-get update failed}); no 5.10 kernel is cached in $cache"
	fi
	for name in $(apt-cache "$@" search --names-only '^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$' |
		cut -d' ' -f1 | sort -rV); do
		echo "$P: downloading $name" >&2
		(cd "$a/deb" && apt-get "$@" download -qq "$name" >> "$a/log" 2>&1) && break
	done
	deb=$(ls "$a"/deb/linux-image-5.10.0-*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] && mv "$deb" "$cache/" && deb=$cache/$(basename "$deb")
	why=$(grep '^E: ' "$a/log" | tail -n 1)
	rm -rf "$a"
	[ -n "$deb" ] || skip "no linux-image-5.10.0-*-cloud-amd64-unsigned downloads from $mirror (${why:-none listed})"
}

deb=${TM_VM_KERNEL_DEB:-}
if [ -z "$deb" ] && [ $kv = 5.10 ]; then
	# Bullseye is closed: the first one fetched is kept.
	deb=$(ls "$cache"/linux-image-5.10.0-*-cloud-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
	[ -n "$deb" ] || fetch_bullseye
elif [ -z "$deb" ]; then
	newest() {
		apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' 2>/dev/null |
			cut -d' ' -f1 | sort -V | tail -n 1
	}
	name=$(newest)
	if [ -z "$name" ] && ! ls "$cache"/linux-image-6.1.0-*-cloud-amd64-unsigned_*.deb >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1      # a fresh machine has no package index yet
		name=$(newest)
	fi
	[ -n "$name" ] && deb=$(ls "$cache"/${name}_*.deb 2>/dev/null | tail -n 1)
	if [ -z "$deb" ] && [ -n "$name" ]; then
		echo "$P: downloading $name" >&2
		(cd "$cache" && apt-get download -qq "$name" >/dev/null 2>&1)
		deb=$(ls "$cache"/${name}_*.deb 2>/dev/null | tail -n 1)
	fi
	# No package index (apt-get update never ran): the newest package already in the cache.
	[ -z "$deb" ] && deb=$(ls "$cache"/linux-image-6.1.0-*-cloud-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
	[ -n "$deb" ] || fail "no 6.1 kernel package: run 'apt-get update', or set TM_VM_KERNEL_DEB"
fi
# Several trees on one machine share the cache: every file is made under a
# temporary name and renamed into place, and each run logs to its own file.
kdir=$cache/$(basename "$deb" .deb)
if [ ! -d "$kdir/boot" ]; then
	t=$(mktemp -d "$kdir.XXXXXX") && dpkg-deb -x "$deb" "$t" && { mv -T "$t" "$kdir" 2>/dev/null || rm -rf "$t"; } ||
		fail "cannot unpack $deb"
fi
kver=$(ls "$kdir/lib/modules" | head -n 1)
kernel=$kdir/boot/vmlinuz-$kver
mods=$kdir/lib/modules/$kver/kernel

# The initramfs: busybox, the modules for virtio-pci, virtiofs and overlayfs (in
# load order), and init; named after the kernel and init's checksum.
initrd=$cache/initrd-$kver-$(cksum < tests/vm/init | cut -d' ' -f1).cpio.gz
if [ ! -s "$initrd" ]; then
	d=$(mktemp -d "$cache/initrd.XXXXXX") || fail "mktemp failed"
	mkdir -p "$d/bin" "$d/proc" "$d/sys" "$d/dev" "$d/lib/modules"
	cp /bin/busybox "$d/bin/busybox"
	for a in $("$d/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$d/bin/$a"; done
	# virtio_pci_{legacy,modern}_dev were split out of virtio_pci in 5.14 and 5.15 (marked '~').
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev~ \
		drivers/virtio/virtio_pci_modern_dev~ drivers/virtio/virtio_pci fs/fuse/fuse fs/fuse/virtiofs \
		fs/overlayfs/overlay; do
		case $m in *~) m=${m%"~"}; [ -f "$mods/$m.ko" ] || continue ;; esac
		[ -f "$mods/$m.ko" ] || { rm -rf "$d"; fail "$kver has no $m.ko"; }
		cp "$mods/$m.ko" "$d/lib/modules/" && basename "$m.ko" >> "$d/modules.order"
	done
	cp tests/vm/init "$d/init"
	(cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) > "$d.cpio.gz" && mv "$d.cpio.gz" "$initrd"
	rm -rf "$d"
	[ -s "$initrd" ] || fail "packing the initramfs failed"
fi

run=$(mktemp -d /tmp/tidemark-vm.XXXXXX) || fail "mktemp failed"
log=$run/console.log
sock=$run/virtiofs.sock
vpid=
cleanup() {
	[ -n "$vpid" ] && kill "$vpid" 2>/dev/null
	# the guest's console, kernel messages and all, for a look after the fact
	mkdir -p tests/out && cp "$log" "tests/out/vm-console-$kv.log" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# sandbox=chroot: the namespace sandbox pivot_root()s, which fails where / is
# not a mount point of its own (containers, some CI runners).
$virtiofsd --socket-path="$sock" -o source=/ -o cache=always -o sandbox=chroot \
	-o log_level=err >"$run/virtiofsd.log" 2>&1 &
vpid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$sock" ] || fail "virtiofsd did not start: $(cat "$run/virtiofsd.log")"

# One host thread runs both vCPUs (thread=single). With a thread each (multi), QEMU
# 7.2 (Debian 12's) now and then kept running its old translation of a kernel
# instruction the other vCPU had just patched: the static key in syscall_trace_enter,
# flipped as a run attached or detached the syscall tracepoint. The translation
# still held the int3 of the patch, the kernel's int3 handler found the int3 gone
# and ran the instruction again, and the vCPU looped there for good (3 of ~12 runs
# of the suite; 467 s for it single-threaded, 424 s multi). Not on hardware or KVM.
tcg=${TM_VM_TCG:-single}
# A soft lockup panics the guest (panic=-1: it is gone at once, not at the timeout)
# and the panic replays the kernel's log at full verbosity (the stuck CPUs' stacks,
# which loglevel=3 held back) with every task's state, so the console says where.
lockup="softlockup_panic=1 softlockup_all_cpu_backtrace=1 panic_print=0x21"
echo "$P: booting $kver (TCG $tcg-threaded, $cpus vCPUs, $mem) with $suite" >&2
t0=$(date +%s)
timeout "$timeout" qemu-system-x86_64 -machine q35 -accel tcg,thread=$tcg -cpu max -smp "$cpus" -m "$mem" \
	-object memory-backend-memfd,id=mem,size="$mem",share=on -numa node,memdev=mem \
	-chardev socket,id=fs,path="$sock" -device vhost-user-fs-pci,chardev=fs,tag=host \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 $lockup tm.tree=$tree tm.suite=$suite tm.timeout=$per_file" \
	-display none -monitor none -serial stdio -no-reboot </dev/null >"$log" 2>&1
rc=$?
t1=$(date +%s)
tr -d '\r' < "$log" | sed -n 's/^@tm //p' > "$run/out"
sed -n 's/^| /  /p;s/^\(kernel\|boot\|done\|init\|guest\): /\1: /p' "$run/out" | sed "s/^/$P: /"
passed=0 failed=0 skipped=0
while read -r what file rest; do
	[ "$what" = result ] || continue
	echo "$P: ${file%:} $rest"
	set -- $rest
	passed=$((passed + $1)); failed=$((failed + $3)); skipped=$((skipped + $5))
done < "$run/out"
if ! grep -q '^done: ' "$run/out"; then
	echo "$P: the guest did not finish (qemu exit $rc after $((t1 - t0)) s); console in tests/out/vm-console-$kv.log" >&2
	# where the kernel was stuck, if it was: the report as the panic replayed it, with its stack
	tr -d '\r' < "$log" | grep -v '^@tm' > "$run/kernel"
	n=$(grep -n 'BUG: soft lockup' "$run/kernel" | tail -n 1 | cut -d: -f1)
	[ -n "$n" ] && sed -n "$n,$((n + 50))p" "$run/kernel" | sed "s/^/$P: /" >&2
	failed=$((failed + 1))
fi
echo "$P: $((t1 - t0)) s from boot to power-off"
echo "$P: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
