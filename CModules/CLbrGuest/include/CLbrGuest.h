/* CLbrGuest — the 64-bit guest payload (see guest.S) and its exported symbols.
 * Placeholder until the guest issue lands. */
#ifndef LBR_GUEST_H
#define LBR_GUEST_H
#include <stdint.h>
#endif
