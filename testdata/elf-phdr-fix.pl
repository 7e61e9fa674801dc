#!/usr/bin/perl
# elf-phdr-fix.pl SRC DST: copies a QEMU dump-guest-memory ELF core to DST with
# its program headers moved right after the ELF header (e_phoff = sizeof(Ehdr))
# and the section headers dropped, the layout makedumpfile 1.7.2 requires.
# Everything else stays at its offset (the phdrs only move down, so they fit).
# SRC is not modified. perl-base is part of every Debian system.
use strict;
use warnings;
use Fcntl qw(SEEK_SET);

die "usage: $0 SRC DST\n" unless @ARGV == 2;
my ($src, $dst) = @ARGV;
open(my $in, '<:raw', $src) or die "$src: $!\n";
my $hdr;
read($in, $hdr, 64) == 64 or die "$src: short read\n";
die "$src: not ELF\n" unless substr($hdr, 0, 4) eq "\x7fELF";
my $class = ord(substr($hdr, 4, 1));
my $le = ord(substr($hdr, 5, 1)) == 1;
my ($H, $W, $Q) = $le ? ('v', 'V', 'Q<') : ('n', 'N', 'Q>');
my ($ehsize, $phoff, $phoff_at, $shoff_at, $shoff_w, $phnum_at, $phentsize);
if ($class == 2) {
    ($phoff_at, $shoff_at, $shoff_w, $phnum_at) = (32, 40, 8, 56);
    $phoff = unpack($Q, substr($hdr, 32, 8));
} elsif ($class == 1) {
    ($phoff_at, $shoff_at, $shoff_w, $phnum_at) = (28, 32, 4, 44);
    $phoff = unpack($W, substr($hdr, 28, 4));
} else {
    die "$src: unknown ELF class $class\n";
}
# QEMU 7.2 writes a wrong e_ehsize (8): use the real header size, and fix it.
$ehsize = $class == 2 ? 64 : 52;
$phentsize = unpack($H, substr($hdr, $phnum_at - 2, 2));
my $phnum = unpack($H, substr($hdr, $phnum_at, 2));
die "$src: e_phnum is PN_XNUM: not supported\n" if $phnum == 0xffff;
die "$src: phdrs at $phoff before the end of the header\n" if $phoff < $ehsize;

# Copy the whole file (sparse-aware), then patch the head of the copy.
system('cp', '--sparse=always', $src, $dst) == 0 or die "cp $src $dst failed\n";
seek($in, $phoff, SEEK_SET) or die;
my $ph;
read($in, $ph, $phnum * $phentsize) == $phnum * $phentsize or die "$src: short phdrs\n";
close $in;
my $new = substr($hdr, 0, $ehsize);
substr($new, $phnum_at - 4, 2) = pack($H, $ehsize);             # e_ehsize
substr($new, $phoff_at, $shoff_w) = $class == 2 ? pack($Q, $ehsize) : pack($W, $ehsize);
substr($new, $shoff_at, $shoff_w) = "\0" x $shoff_w;            # e_shoff
substr($new, $phnum_at + 2, 6) = "\0" x 6;                       # e_shentsize, e_shnum, e_shstrndx
my $oldend = $phoff + $phnum * $phentsize;
my $head = $new . $ph;
$head .= "\0" x ($oldend - length($head)) if length($head) < $oldend;
open(my $out, '+<:raw', $dst) or die "$dst: $!\n";
print $out $head;
close $out or die "$dst: $!\n";
printf STDERR "elf-phdr-fix: %d phdrs moved from %d to %d\n", $phnum, $phoff, $ehsize;
