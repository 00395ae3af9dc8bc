/* Standard descriptors 0-2 at process start. */
#ifndef LBR_SHIM_STDFDS_H
#define LBR_SHIM_STDFDS_H

/** Bit n (n = 0, 1, 2) set when descriptor n was closed when the process started; a constructor then
 *  opened /dev/null on it, so no later open(2) (an eventfd, a perf fd, a report file) can land on 0-2
 *  and receive output meant for stdin/stdout/stderr. */
int lbr_stdfds_closed_at_start(void);

#endif
