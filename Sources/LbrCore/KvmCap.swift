/// KVM_CAP_* numbers and names lbrprobe checks (include/uapi/linux/kvm.h): the one place they live.
/// LbrLinux probes them (`Kvm.checkExtension`), LbrCore's eligibility rules and recorded profiles name them.
public enum KvmCap: Int32, CaseIterable, Sendable, Codable {
    case immediateExit = 136
    case x86UserSpaceMsr = 188
    case x86MsrFilter = 189
    case binaryStatsFd = 203
    case pmuCapability = 212
    case getMsrFeatures = 153
    case userMemory = 3
    case setTssAddr = 4
    case extCpuid = 7

    /// The UAPI macro name, e.g. `KVM_CAP_IMMEDIATE_EXIT`.
    public var name: String {
        switch self {
        case .immediateExit: return "KVM_CAP_IMMEDIATE_EXIT"
        case .x86UserSpaceMsr: return "KVM_CAP_X86_USER_SPACE_MSR"
        case .x86MsrFilter: return "KVM_CAP_X86_MSR_FILTER"
        case .binaryStatsFd: return "KVM_CAP_BINARY_STATS_FD"
        case .pmuCapability: return "KVM_CAP_PMU_CAPABILITY"
        case .getMsrFeatures: return "KVM_CAP_GET_MSR_FEATURES"
        case .userMemory: return "KVM_CAP_USER_MEMORY"
        case .setTssAddr: return "KVM_CAP_SET_TSS_ADDR"
        case .extCpuid: return "KVM_CAP_EXT_CPUID"
        }
    }
}
