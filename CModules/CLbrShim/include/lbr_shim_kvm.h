#ifndef LBR_SHIM_KVM_H
#define LBR_SHIM_KVM_H
#include <stdint.h>
#include <linux/kvm.h>

/* System ioctls (on /dev/kvm). */
unsigned long lbr_kvm_get_api_version(void);
unsigned long lbr_kvm_create_vm(void);
unsigned long lbr_kvm_check_extension(void);
unsigned long lbr_kvm_get_vcpu_mmap_size(void);
unsigned long lbr_kvm_get_supported_cpuid(void);
unsigned long lbr_kvm_get_msr_index_list(void);
unsigned long lbr_kvm_get_msr_feature_index_list(void);
unsigned long lbr_kvm_get_msrs(void);  /* also a vCPU ioctl */
/* VM ioctls. */
unsigned long lbr_kvm_create_vcpu(void);
unsigned long lbr_kvm_set_user_memory_region(void);
unsigned long lbr_kvm_enable_cap(void);
unsigned long lbr_kvm_x86_set_msr_filter(void);
unsigned long lbr_kvm_get_stats_fd(void); /* also a vCPU ioctl */
unsigned long lbr_kvm_set_tss_addr(void);
unsigned long lbr_kvm_set_identity_map_addr(void);
/* vCPU ioctls. */
unsigned long lbr_kvm_run(void);
unsigned long lbr_kvm_get_regs(void);
unsigned long lbr_kvm_set_regs(void);
unsigned long lbr_kvm_get_sregs(void);
unsigned long lbr_kvm_set_sregs(void);
unsigned long lbr_kvm_set_cpuid2(void);
unsigned long lbr_kvm_set_msrs(void);
unsigned long lbr_kvm_get_cpuid2(void);
unsigned long lbr_kvm_set_guest_debug(void);
/** KVM_SET_GUEST_DEBUG control bits (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP). */
uint32_t lbr_kvm_guestdbg_enable(void);
uint32_t lbr_kvm_guestdbg_singlestep(void);

/* struct kvm_run union members (anonymous unions do not import cleanly). */
struct kvm_run;
uint32_t lbr_kvm_run_exit_reason(const struct kvm_run *run);
void lbr_kvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value);
uint8_t lbr_kvm_run_immediate_exit(const struct kvm_run *run);
/** KVM_EXIT_IO: direction (0 in, 1 out), size, port, count, data_offset. */
typedef struct lbr_kvm_io { uint8_t direction, size; uint16_t port; uint32_t count; uint64_t data_offset; } lbr_kvm_io;
lbr_kvm_io lbr_kvm_run_io(const struct kvm_run *run);
/** KVM_EXIT_X86_RDMSR / WRMSR: pointer to the msr member, so the VMM can answer in place. */
typedef struct lbr_kvm_msr_exit { __u8 *error; __u32 *reason; __u32 *index; __u64 *data; } lbr_kvm_msr_exit;
lbr_kvm_msr_exit lbr_kvm_run_msr(struct kvm_run *run);
/** KVM_EXIT_FAIL_ENTRY hardware_entry_failure_reason and cpu. */
uint64_t lbr_kvm_run_fail_entry_reason(const struct kvm_run *run);
uint32_t lbr_kvm_run_fail_entry_cpu(const struct kvm_run *run);
/** KVM_EXIT_INTERNAL_ERROR suberror, ndata and data[i] (i < 16). */
uint32_t lbr_kvm_run_internal_suberror(const struct kvm_run *run);
uint32_t lbr_kvm_run_internal_ndata(const struct kvm_run *run);
uint64_t lbr_kvm_run_internal_data(const struct kvm_run *run, uint32_t i);
/** KVM_EXIT_SYSTEM_EVENT type. */
uint32_t lbr_kvm_run_system_event_type(const struct kvm_run *run);
/** KVM_EXIT_MMIO phys_addr, len, is_write. */
uint64_t lbr_kvm_run_mmio_addr(const struct kvm_run *run);
uint32_t lbr_kvm_run_mmio_len(const struct kvm_run *run);
uint8_t lbr_kvm_run_mmio_is_write(const struct kvm_run *run);
/** KVM_EXIT_DEBUG: the guest RIP (debug.arch.pc) and the exception vector (debug.arch.exception). */
uint64_t lbr_kvm_run_debug_pc(const struct kvm_run *run);
uint32_t lbr_kvm_run_debug_exception(const struct kvm_run *run);
#endif
