#!/bin/sh
# tests/vm/run.sh [SUITE]: boot Debian 12's stock 6.1 kernel under QEMU and run
# the integration tests SUITE lists (default tests/vm/suite) inside it.
#
# The guest sees the host's root filesystem read-only over virtiofs (QEMU's own
# virtiofsd, no extra package), with a tmpfs overlay for writes: the tests run
# against this tree's build, Debian's python3.11 and the pyenv interpreters as
# they are on the host, with nothing to copy or pack but a busybox initramfs
# with the kernel's own virtio/fuse/overlay modules. The kernel package (Debian's
# linux-image-6.1.0-*-cloud-amd64-unsigned, which is what Debian 12 cloud images
# boot) is fetched once with apt-get download into $TM_VM_CACHE.
#
# Prints "guest-6.1: ..." lines and closes with "guest-6.1: N passed, N failed,
# N skipped" (tests/run.sh adds it to make test's totals). TCG: no /dev/kvm needed.
#
#   TM_VM_CACHE=/var/cache/tidemark-vm   kernel, initramfs, logs
#   TM_VM_KERNEL_DEB=PATH                use this kernel package
#   TM_VM_MEM=4G TM_VM_CPUS=2            guest size
#   TM_VM_TIMEOUT=2400                   seconds before the guest is stopped
#   TM_VM_FILE_TIMEOUT=900               seconds before one test file is stopped
#
# The guest reads this tree live: do not rebuild while it runs.
set -u
cd "$(dirname "$0")/../.."
tree=$(pwd)
suite=${1:-tests/vm/suite}
cache=${TM_VM_CACHE:-/var/cache/tidemark-vm}
mem=${TM_VM_MEM:-4G}
cpus=${TM_VM_CPUS:-2}
timeout=${TM_VM_TIMEOUT:-2400}
per_file=${TM_VM_FILE_TIMEOUT:-900}
P=guest-6.1

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
deb=${TM_VM_KERNEL_DEB:-}
if [ -z "$deb" ]; then
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
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
		drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci fs/fuse/fuse fs/fuse/virtiofs \
		fs/overlayfs/overlay; do
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
	mkdir -p tests/out && cp "$log" tests/out/vm-console.log 2>/dev/null
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

echo "$P: booting $kver (TCG, $cpus vCPUs, $mem) with $suite" >&2
t0=$(date +%s)
timeout "$timeout" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
	-object memory-backend-memfd,id=mem,size="$mem",share=on -numa node,memdev=mem \
	-chardev socket,id=fs,path="$sock" -device vhost-user-fs-pci,chardev=fs,tag=host \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 tm.tree=$tree tm.suite=$suite tm.timeout=$per_file" \
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
	echo "$P: the guest did not finish (qemu exit $rc after $((t1 - t0)) s); console in tests/out/vm-console.log" >&2
	failed=$((failed + 1))
fi
echo "$P: $((t1 - t0)) s from boot to power-off"
echo "$P: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
