/* SPDX-License-Identifier: MIT */
/* Just enough ELF to find an exported data symbol of a shared library on
 * disk: .dynsym survives strip, so installed libraries work too. */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#elif defined(__powerpc64__)
#define NATIVE_MACHINE EM_PPC64
#elif defined(__s390x__)
#define NATIVE_MACHINE EM_S390
#elif defined(__riscv)
#define NATIVE_MACHINE EM_RISCV
#else
#define NATIVE_MACHINE EM_NONE	/* not checked */
#endif

/* Bounds check of [off, off+len) within a file of size sz. */
static bool in_file(uint64_t off, uint64_t len, uint64_t sz)
{
	return off <= sz && len <= sz - off;
}

int elf_dynsym(int fd, const char *name, uint64_t *value,
	       uint64_t *first_load)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const Elf64_Phdr *ph;
	struct stat st;
	const unsigned char *m;
	uint64_t sz;
	size_t i, j, nlen = strlen(name);
	int ret = -ENOEXEC;

	if (fstat(fd, &st))
		return -errno;
	sz = (uint64_t)st.st_size;
	if (sz < sizeof(*eh))
		return -ENOEXEC;
	m = mmap(NULL, sz, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    (NATIVE_MACHINE != EM_NONE && eh->e_machine != NATIVE_MACHINE) ||
	    eh->e_shentsize != sizeof(*sh) || eh->e_phentsize != sizeof(*ph) ||
	    !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(*sh), sz) ||
	    !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(*ph), sz))
		goto out;
	ph = (const Elf64_Phdr *)(m + eh->e_phoff);
	for (i = 0; i < eh->e_phnum && ph[i].p_type != PT_LOAD; i++)
		;
	if (i == eh->e_phnum)
		goto out;
	/* the mapping at file offset 0 starts at this page */
	*first_load = ph[i].p_vaddr & ~(uint64_t)(getpagesize() - 1);
	sh = (const Elf64_Shdr *)(m + eh->e_shoff);
	ret = -ENOENT;
	for (i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym;
		const Elf64_Shdr *strs;
		const char *str;

		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum ||
		    sh[i].sh_entsize != sizeof(*sym) ||
		    !in_file(sh[i].sh_offset, sh[i].sh_size, sz))
			continue;
		strs = &sh[sh[i].sh_link];
		if (!in_file(strs->sh_offset, strs->sh_size, sz))
			continue;
		sym = (const Elf64_Sym *)(m + sh[i].sh_offset);
		str = (const char *)(m + strs->sh_offset);
		for (j = 0; j < sh[i].sh_size / sizeof(*sym); j++) {
			if (sym[j].st_name >= strs->sh_size ||
			    sym[j].st_shndx == SHN_UNDEF ||
			    strs->sh_size - sym[j].st_name <= nlen ||
			    memcmp(str + sym[j].st_name, name, nlen + 1))
				continue;
			*value = sym[j].st_value;
			ret = 0;
			goto out;
		}
	}
out:
	munmap((void *)m, sz);
	return ret;
}
