public import ContractKit

extension ContractRegistry {
    /// Every contract of the pipeline, each version with its upcaster: what workers and tools
    /// decode with.
    public static var pipeline: ContractRegistry {
        var registry = ContractRegistry()
        registry.register(RegistrationSubmittedV3.self)
        registry.register(RegistrationSubmittedV2.self) { $0.upcast() }
        registry.register(RegistrationSubmittedV1.self) { $0.upcast() }
        registry.register(AssessmentSubmittedV3.self)
        registry.register(AssessmentSubmittedV2.self) { $0.upcast() }
        registry.register(AssessmentSubmittedV1.self) { $0.upcast() }
        registry.register(AssessmentGradedV3.self)
        registry.register(AssessmentGradedV2.self) { $0.upcast() }
        registry.register(AssessmentGradedV1.self) { $0.upcast() }
        registry.register(RegistrationAcceptedV2.self)
        registry.register(RegistrationAcceptedV1.self) { $0.upcast() }
        registry.register(ClassScheduledV2.self)
        registry.register(ClassScheduledV1.self) { $0.upcast() }
        registry.register(CertificateIssuedV2.self)
        registry.register(CertificateIssuedV1.self) { $0.upcast() }
        for type in ContractCatalogue.singleVersion { registry.registerNewest(type) }
        return registry
    }

    private mutating func registerNewest(_ type: any ContractMessage.Type) {
        func open<M: ContractMessage>(_ type: M.Type) { register(type) }
        open(type)
    }
}

/// The list of contract types, for the registry and for schema export.
public enum ContractCatalogue {
    /// Contracts that have one version so far.
    static let singleVersion: [any ContractMessage.Type] = [
        RegistrationReceivedV1.self, RegistrationRejectedV1.self, RegistrationReviewNeededV1.self, RegistrationReviewedV1.self,
        RegistrationDocumentsRequestedV1.self, RegistrationCorrectedV1.self, ConsentWithdrawnV1.self, ParticipantNamedV1.self,
        ClassOpenedV1.self, EnrolmentWaitlistedV1.self, EnrolmentReserveDesignatedV1.self, ApprenticeshipPlacedV1.self,
        EnrolmentWithdrawnV1.self,
        EnrolmentWithdrawalRequestedV1.self,
        EnrolmentReRegisteredV1.self, EnrolmentTransferOfferedV1.self, EnrolmentTransferAnsweredV1.self,
        EnrolmentAllocationContinuedV1.self,
        TrainingCompletedV1.self,
        AssessmentRejectedV1.self, AssessmentAppealedV1.self, AssessmentAppealRecordedV1.self,
        LicenceRecordedV1.self, CertificateRevokedV1.self,
        NotificationRequestedV1.self, NotificationDeliveredV1.self, NotificationFailedV1.self,
    ]

    /// Every (type, version), oldest first within a type.
    public static let all: [any ContractMessage.Type] =
        [
            RegistrationSubmittedV1.self, RegistrationSubmittedV2.self, RegistrationSubmittedV3.self,
            AssessmentSubmittedV1.self, AssessmentSubmittedV2.self,
            AssessmentSubmittedV3.self, AssessmentGradedV1.self, AssessmentGradedV2.self, AssessmentGradedV3.self,
            RegistrationAcceptedV1.self, RegistrationAcceptedV2.self,
            ClassScheduledV1.self, ClassScheduledV2.self,
            CertificateIssuedV1.self, CertificateIssuedV2.self,
        ]
        + singleVersion
}
