#define _GNU_SOURCE
#include "CLbrShim.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <cpuid.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

lbr_cpuid_regs lbr_cpuid(uint32_t leaf, uint32_t subleaf) {
    lbr_cpuid_regs r = {0, 0, 0, 0};
    __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
    return r;
}

uint64_t lbr_rdtsc(void) { return __rdtsc(); }

int lbr_set_self_affinity(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int lbr_pin_self_to_cpu(int cpu) { return lbr_set_self_affinity(&cpu, 1); }

int lbr_current_cpu(void) { return sched_getcpu(); }

pid_t lbr_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int lbr_set_self_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int lbr_get_self_name(char *buf, size_t len) { return pthread_getname_np(pthread_self(), buf, len); }

int lbr_self_affinity(int *cpus, int max) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int rc = pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) return -rc;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (n < max) cpus[n] = cpu;
        n++;
    }
    return n;
}

int lbr_perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd, unsigned long flags) {
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

unsigned long lbr_perf_ioc_enable(void) { return PERF_EVENT_IOC_ENABLE; }
unsigned long lbr_perf_ioc_disable(void) { return PERF_EVENT_IOC_DISABLE; }
unsigned long lbr_perf_ioc_reset(void) { return PERF_EVENT_IOC_RESET; }
unsigned long lbr_perf_ioc_refresh(void) { return PERF_EVENT_IOC_REFRESH; }
unsigned long lbr_perf_ioc_id(void) { return PERF_EVENT_IOC_ID; }
unsigned long lbr_perf_ioc_set_output(void) { return PERF_EVENT_IOC_SET_OUTPUT; }
uint32_t lbr_perf_attr_size(void) { return (uint32_t)sizeof(struct perf_event_attr); }
uint64_t lbr_perf_ring_load_head(const struct perf_event_mmap_page *page) {
    return __atomic_load_n(&page->data_head, __ATOMIC_ACQUIRE);
}
void lbr_perf_ring_store_tail(struct perf_event_mmap_page *page, uint64_t tail) {
    __atomic_store_n(&page->data_tail, tail, __ATOMIC_RELEASE);
}

unsigned long lbr_kvm_get_api_version(void) { return KVM_GET_API_VERSION; }
unsigned long lbr_kvm_create_vm(void) { return KVM_CREATE_VM; }
unsigned long lbr_kvm_check_extension(void) { return KVM_CHECK_EXTENSION; }
unsigned long lbr_kvm_get_vcpu_mmap_size(void) { return KVM_GET_VCPU_MMAP_SIZE; }
unsigned long lbr_kvm_get_supported_cpuid(void) { return KVM_GET_SUPPORTED_CPUID; }
unsigned long lbr_kvm_get_msr_index_list(void) { return KVM_GET_MSR_INDEX_LIST; }
unsigned long lbr_kvm_get_msr_feature_index_list(void) { return KVM_GET_MSR_FEATURE_INDEX_LIST; }
unsigned long lbr_kvm_get_msrs(void) { return KVM_GET_MSRS; }
unsigned long lbr_kvm_create_vcpu(void) { return KVM_CREATE_VCPU; }
unsigned long lbr_kvm_set_user_memory_region(void) { return KVM_SET_USER_MEMORY_REGION; }
unsigned long lbr_kvm_enable_cap(void) { return KVM_ENABLE_CAP; }
unsigned long lbr_kvm_x86_set_msr_filter(void) { return KVM_X86_SET_MSR_FILTER; }
unsigned long lbr_kvm_get_stats_fd(void) { return KVM_GET_STATS_FD; }
unsigned long lbr_kvm_set_tss_addr(void) { return KVM_SET_TSS_ADDR; }
unsigned long lbr_kvm_set_identity_map_addr(void) { return KVM_SET_IDENTITY_MAP_ADDR; }
unsigned long lbr_kvm_run(void) { return KVM_RUN; }
unsigned long lbr_kvm_get_regs(void) { return KVM_GET_REGS; }
unsigned long lbr_kvm_set_regs(void) { return KVM_SET_REGS; }
unsigned long lbr_kvm_set_guest_debug(void) { return KVM_SET_GUEST_DEBUG; }
uint32_t lbr_kvm_guestdbg_enable(void) { return KVM_GUESTDBG_ENABLE; }
uint32_t lbr_kvm_guestdbg_singlestep(void) { return KVM_GUESTDBG_SINGLESTEP; }
uint64_t lbr_kvm_run_debug_pc(const struct kvm_run *run) { return run->debug.arch.pc; }
uint32_t lbr_kvm_run_debug_exception(const struct kvm_run *run) { return run->debug.arch.exception; }
unsigned long lbr_kvm_get_sregs(void) { return KVM_GET_SREGS; }
unsigned long lbr_kvm_set_sregs(void) { return KVM_SET_SREGS; }
unsigned long lbr_kvm_set_cpuid2(void) { return KVM_SET_CPUID2; }
unsigned long lbr_kvm_set_msrs(void) { return KVM_SET_MSRS; }
unsigned long lbr_kvm_get_cpuid2(void) { return KVM_GET_CPUID2; }

uint32_t lbr_kvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }
void lbr_kvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}
uint8_t lbr_kvm_run_immediate_exit(const struct kvm_run *run) {
    return __atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST);
}
lbr_kvm_io lbr_kvm_run_io(const struct kvm_run *run) {
    lbr_kvm_io io = { run->io.direction, run->io.size, run->io.port, run->io.count, run->io.data_offset };
    return io;
}
lbr_kvm_msr_exit lbr_kvm_run_msr(struct kvm_run *run) {
    lbr_kvm_msr_exit m = { &run->msr.error, &run->msr.reason, &run->msr.index, &run->msr.data };
    return m;
}
uint64_t lbr_kvm_run_fail_entry_reason(const struct kvm_run *run) { return run->fail_entry.hardware_entry_failure_reason; }
uint32_t lbr_kvm_run_fail_entry_cpu(const struct kvm_run *run) { return run->fail_entry.cpu; }
uint32_t lbr_kvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
uint32_t lbr_kvm_run_internal_ndata(const struct kvm_run *run) { return run->internal.ndata; }
uint64_t lbr_kvm_run_internal_data(const struct kvm_run *run, uint32_t i) {
    return i < 16 ? run->internal.data[i] : 0;
}
uint32_t lbr_kvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }
uint64_t lbr_kvm_run_mmio_addr(const struct kvm_run *run) { return run->mmio.phys_addr; }
uint32_t lbr_kvm_run_mmio_len(const struct kvm_run *run) { return run->mmio.len; }
uint8_t lbr_kvm_run_mmio_is_write(const struct kvm_run *run) { return run->mmio.is_write; }
