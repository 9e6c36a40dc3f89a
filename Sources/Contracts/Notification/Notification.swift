public import ContractKit

/// How a notification reaches a job seeker.
public enum NotificationChannel: String, SchemaEnumeration {
    case whatsApp = "WHATSAPP"
    case sms = "SMS"
    case email = "EMAIL"
}

/// Ask the notification worker to tell a job seeker something, from a template in Bahasa
/// Indonesia.
public struct NotificationRequestedV1: ContractMessage {
    public static let eventType = "notification.requested"
    public static let version = 1

    /// Unique per notification; the worker sends each at most once.
    public var notificationID: String
    /// The participant, or `nil` before intake accepted the registration.
    public var participantID: String?
    public var registrationID: String?
    public var channel: NotificationChannel
    /// E.164 phone number or e-mail address (personal data: masked in logs).
    public var recipient: String
    /// Template key, e.g. `registration.accepted`, `class.scheduled`.
    public var template: String
    /// Values for the template's placeholders.
    public var parameters: [String: String]

    public init(
        notificationID: String, participantID: String?, registrationID: String?, channel: NotificationChannel, recipient: String,
        template: String, parameters: [String: String]
    ) {
        self.notificationID = notificationID
        self.participantID = participantID
        self.registrationID = registrationID
        self.channel = channel
        self.recipient = recipient
        self.template = template
        self.parameters = parameters
    }
}

/// The provider accepted a notification for delivery.
public struct NotificationDeliveredV1: ContractMessage {
    public static let eventType = "notification.delivered"
    public static let version = 1

    public var notificationID: String
    public var channel: NotificationChannel
    /// ISO 8601.
    public var deliveredAt: String
    public var providerMessageID: String

    public init(notificationID: String, channel: NotificationChannel, deliveredAt: String, providerMessageID: String) {
        self.notificationID = notificationID
        self.channel = channel
        self.deliveredAt = deliveredAt
        self.providerMessageID = providerMessageID
    }
}

/// A notification could not be delivered.
public struct NotificationFailedV1: ContractMessage {
    public static let eventType = "notification.failed"
    public static let version = 1

    public var notificationID: String
    public var channel: NotificationChannel
    /// e.g. `INVALID_NUMBER`, `PROVIDER_UNAVAILABLE`.
    public var reasonCode: String
    /// Whether retrying cannot help.
    public var permanent: Bool

    public init(notificationID: String, channel: NotificationChannel, reasonCode: String, permanent: Bool) {
        self.notificationID = notificationID
        self.channel = channel
        self.reasonCode = reasonCode
        self.permanent = permanent
    }
}
