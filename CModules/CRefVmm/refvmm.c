#define _GNU_SOURCE
#include "CRefVmm.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define FAIL(s) do { res.err = errno ? errno : EIO; res.step = (s); goto out; } while (0)

lbr_refvmm_result lbr_refvmm_run_exit_loop(int cpu, const void *image, size_t image_len, size_t mem_size,
                                           const void *sregs_bytes, const void *regs_bytes, uint16_t port,
                                           uint32_t ready, uint32_t ping, uint32_t done) {
    lbr_refvmm_result res = { 0, "ok", 0, 0, 0 };
    int kvm = -1, vm = -1, vcpu = -1;
    void *mem = MAP_FAILED;
    struct kvm_run *run = MAP_FAILED;
    size_t run_size = 0;
    struct kvm_cpuid2 *cpuid = NULL;
    cpu_set_t old, one;
    int restore = pthread_getaffinity_np(pthread_self(), sizeof(old), &old) == 0;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    errno = 0;
    if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0) FAIL("pin");
    if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) FAIL("open /dev/kvm");
    if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0) FAIL("KVM_CREATE_VM");
    if (image_len > mem_size) { errno = EINVAL; FAIL("image larger than memory"); }
    mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) FAIL("mmap memory");
    memcpy(mem, image, image_len);
    struct kvm_userspace_memory_region region = { 0, 0, 0, mem_size, (uint64_t)(uintptr_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) FAIL("KVM_SET_USER_MEMORY_REGION");
    if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) FAIL("KVM_CREATE_VCPU");
    int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < 0) FAIL("KVM_GET_VCPU_MMAP_SIZE");
    run_size = (size_t)sz;
    run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) FAIL("mmap kvm_run");
    int nent = 256;
    cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid) FAIL("calloc");
    cpuid->nent = nent;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) FAIL("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0) FAIL("KVM_SET_CPUID2");
    struct kvm_sregs sregs, cur;
    memcpy(&sregs, sregs_bytes, sizeof(sregs));
    if (ioctl(vcpu, KVM_GET_SREGS, &cur) < 0) FAIL("KVM_GET_SREGS");
    sregs.apic_base = cur.apic_base;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) FAIL("KVM_SET_SREGS");
    struct kvm_regs regs;
    memcpy(&regs, regs_bytes, sizeof(regs));
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) FAIL("KVM_SET_REGS");

    int started = 0;
    uint64_t t0 = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            FAIL("KVM_RUN");
        }
        res.last_exit = run->exit_reason;
        if (run->exit_reason != KVM_EXIT_IO || run->io.port != port || run->io.size != 4) {
            errno = EPROTO;
            FAIL("unexpected exit");
        }
        uint32_t v = *(uint32_t *)((char *)run + run->io.data_offset);
        if (v == ping) { res.exits++; continue; }
        if (v == ready && !started) { started = 1; t0 = now_ns(); continue; }
        if (v == done) { res.elapsed_ns = now_ns() - t0; break; }
        errno = EPROTO;
        FAIL("unexpected doorbell value");
    }
out:
    free(cpuid);
    if (run != MAP_FAILED) munmap(run, run_size);
    if (vcpu >= 0) close(vcpu);
    if (vm >= 0) close(vm);
    if (mem != MAP_FAILED) munmap(mem, mem_size);
    if (kvm >= 0) close(kvm);
    if (restore) pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
    return res;
}
