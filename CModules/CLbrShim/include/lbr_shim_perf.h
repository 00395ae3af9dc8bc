#ifndef LBR_SHIM_PERF_H
#define LBR_SHIM_PERF_H
#include <stdint.h>
#include <sys/types.h>
#include <linux/perf_event.h>

/** perf_event_open(2) through syscall(2). Returns an fd or -1 with errno set. */
int lbr_perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd, unsigned long flags);

/* Request numbers for perf ioctls (_IO/_IOR/_IOW macros do not import). */
unsigned long lbr_perf_ioc_enable(void);
unsigned long lbr_perf_ioc_disable(void);
unsigned long lbr_perf_ioc_reset(void);
unsigned long lbr_perf_ioc_refresh(void);
unsigned long lbr_perf_ioc_id(void);
unsigned long lbr_perf_ioc_set_output(void);

/** Size of struct perf_event_attr as compiled against the UAPI headers. */
uint32_t lbr_perf_attr_size(void);

/* Ring buffer control page (struct perf_event_mmap_page) access with the memory ordering the UAPI
 * comment prescribes: data_head is read with acquire semantics (smp_rmb after the load), data_tail is
 * written with release semantics (smp_mb before the store). */
uint64_t lbr_perf_ring_load_head(const struct perf_event_mmap_page *page);
void lbr_perf_ring_store_tail(struct perf_event_mmap_page *page, uint64_t tail);
#endif
