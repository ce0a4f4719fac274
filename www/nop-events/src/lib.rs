//! NOP (the NOise Processing system) event contracts.
//!
//! Producers (the sensor simulator), the gateway's clients and every NOP micro-frontend
//! depend on these types and on nothing of each other.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use herald_protocol::{Event, Request};
use serde::{Deserialize, Serialize};

/// A noise sensor measured a level. Type `nop.noise.reading`, v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NoiseReading {
    /// The sensor's id, e.g. `s-1`.
    pub sensor: String,
    /// The level in dB(A).
    pub db: f64,
    /// When it was measured, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for NoiseReading {
    const TYPE: &'static str = "nop.noise.reading";
    type Data = Self;
}

/// A sound level as the dashboard shows it: one decimal, `61.5 dB`.
///
/// Written with integer formatting only, so a micro-frontend that shows levels does not
/// ship Rust's float printer in its wasm (about 20 KB).
///
/// ```
/// assert_eq!(nop_events::db_label(61.46), "61.5 dB");
/// assert_eq!(nop_events::db_label(70.0), "70.0 dB");
/// assert_eq!(nop_events::db_label(-0.25), "-0.3 dB");
/// ```
pub fn db_label(db: f64) -> String {
    let tenths = (db * 10.0).round();
    if !tenths.is_finite() {
        return "– dB".to_owned();
    }
    let sign = if tenths < 0.0 { "-" } else { "" };
    let tenths = tenths.abs() as u64;
    format!("{sign}{}.{} dB", tenths / 10, tenths % 10)
}

/// A user selected a sensor in some micro-frontend. Type `nop.sensor.selected`, v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SensorSelected {
    /// The selected sensor's id.
    pub sensor: String,
}

impl Event for SensorSelected {
    const TYPE: &'static str = "nop.sensor.selected";
    type Data = Self;
}

/// A sensor was loud too often: more than a threshold count of loud readings within a
/// window. Type `nop.noise.alert`, v1; raised by the plain-JS `<nop-alerts>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NoiseAlert {
    /// The sensor's id.
    pub sensor: String,
    /// How many loud readings fell within the window.
    pub count: u32,
    /// The window's length in seconds.
    pub window_s: f64,
    /// When the alert was raised, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for NoiseAlert {
    const TYPE: &'static str = "nop.noise.alert";
    type Data = Self;
}

/// A question for a server-side responder: what is the latest reading of `sensor`? Type
/// `nop.sensor.latest`, v1, a request (herald-bus's request/response, forwarded upstream
/// by the page runtime); the reply is that reading, or `null` when the log has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LatestReading {
    /// The sensor's id.
    pub sensor: String,
}

impl Event for LatestReading {
    const TYPE: &'static str = "nop.sensor.latest";
    type Data = Self;
}

impl Request for LatestReading {
    type Reply = Option<NoiseReading>;
}

/// A command to a sensor's producer: stop (or start again) sending its readings. Type
/// `nop.sensor.mute`, v1. The producer that has the sensor carries it out and
/// acknowledges with [`SensorMuted`], whose `causationid` is the command's `id`; a
/// command no producer takes gets no acknowledgement (its sender times out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MuteSensor {
    /// The sensor's id.
    pub sensor: String,
    /// `true` to mute it, `false` to unmute it.
    pub muted: bool,
}

impl Event for MuteSensor {
    const TYPE: &'static str = "nop.sensor.mute";
    type Data = Self;
}

/// A sensor was muted or unmuted: its producer reports that it now sends (or no longer
/// sends) readings. Type `nop.sensor.muted`, v1; the acknowledgement of a mute command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SensorMuted {
    /// The sensor's id.
    pub sensor: String,
    /// Whether it is muted now.
    pub muted: bool,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for SensorMuted {
    const TYPE: &'static str = "nop.sensor.muted";
    type Data = Self;
}

/// A sensor was calibrated: a *pointer* event. The calibration record is large and
/// changes rarely, so the event carries where to read it, not the record. Type
/// `nop.sensor.calibrated`, v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SensorCalibrated {
    /// The sensor's id.
    pub sensor: String,
    /// The record's revision: a new calibration, a new revision.
    pub revision: u64,
    /// The URL of the calibration record at this revision.
    pub record: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for SensorCalibrated {
    const TYPE: &'static str = "nop.sensor.calibrated";
    type Data = Self;
}

/// A step of recalibrating a sensor, the saga's steps in their order: take the sensor
/// offline, calibrate it, put it back online. Each has a compensation: `offline`'s is to
/// put the sensor back online, `calibrate`'s to restore the calibration it replaced;
/// `online` is the last step and needs none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RecalibrationStep {
    /// Take the sensor offline: its producer stops sending its readings.
    Offline,
    /// Calibrate it: a new revision of its calibration record, and the pointer event.
    Calibrate,
    /// Put it back online: its producer sends its readings again.
    Online,
}

/// How a recalibration's steps are coordinated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SagaStyle {
    /// A process manager sends each participant a [`RecalibrationCommand`] and waits for
    /// the fact that answers it; it decides what comes next and what to compensate.
    Orchestrated,
    /// No coordinator: each participant reacts to the other participants' facts.
    Choreographed,
}

/// Recalibrate a sensor: the start of a saga of three steps ([`RecalibrationStep`]).
/// Type `nop.recalibration.requested`, v1. Its `id` names the saga: every event of it is in
/// its correlation chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecalibrationRequested {
    /// The sensor's id.
    pub sensor: String,
    /// Orchestrated or choreographed.
    pub style: SagaStyle,
    /// A failure to inject at this step, to see the compensations run (`null`: none).
    #[serde(default)]
    pub fail_at: Option<RecalibrationStep>,
}

impl Event for RecalibrationRequested {
    const TYPE: &'static str = "nop.recalibration.requested";
    type Data = Self;
}

/// The orchestrated saga's process manager asks a participant to carry out a step, or
/// its compensation. Type `nop.recalibration.command`, v1. The participant answers with the
/// step's fact ([`SensorOffline`], [`SensorCalibrated`], [`SensorOnline`],
/// [`CalibrationReverted`]) or [`RecalibrationFailed`], `causationid` the command's `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecalibrationCommand {
    /// The sensor's id.
    pub sensor: String,
    /// The step.
    pub step: RecalibrationStep,
    /// `true`: undo the step (its compensation) instead of doing it.
    pub compensate: bool,
    /// `true`: fail the step (an injected failure).
    #[serde(default)]
    pub fail: bool,
}

impl Event for RecalibrationCommand {
    const TYPE: &'static str = "nop.recalibration.command";
    type Data = Self;
}

/// A sensor went offline: its producer no longer sends its readings. Type
/// `nop.sensor.offline`, v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SensorOffline {
    /// The sensor's id.
    pub sensor: String,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for SensorOffline {
    const TYPE: &'static str = "nop.sensor.offline";
    type Data = Self;
}

/// A sensor is back online: its producer sends its readings again. Type
/// `nop.sensor.online`, v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SensorOnline {
    /// The sensor's id.
    pub sensor: String,
    /// `true` when it is the compensation of taking it offline (the saga failed later),
    /// `false` when it is the saga's last step.
    pub compensation: bool,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for SensorOnline {
    const TYPE: &'static str = "nop.sensor.online";
    type Data = Self;
}

/// A calibration was undone (the compensation of a recalibration's `calibrate` step): the
/// record's new revision holds the document the calibration had replaced. Type
/// `nop.calibration.reverted`, v1, a pointer event like [`SensorCalibrated`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CalibrationReverted {
    /// The sensor's id.
    pub sensor: String,
    /// The record's revision that holds the restored document.
    pub revision: u64,
    /// The URL of the calibration record at this revision.
    pub record: String,
    /// The revision whose document was restored (`null`: the factory calibration).
    #[serde(default)]
    pub restored: Option<u64>,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
}

impl Event for CalibrationReverted {
    const TYPE: &'static str = "nop.calibration.reverted";
    type Data = Self;
}

/// A step of a recalibration failed. Type `nop.recalibration.failed`, v1: published by the
/// participant whose step failed, or by the process manager when a participant did not
/// answer in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecalibrationFailed {
    /// The sensor's id.
    pub sensor: String,
    /// The step that failed.
    pub step: RecalibrationStep,
    /// Why.
    pub reason: String,
}

impl Event for RecalibrationFailed {
    const TYPE: &'static str = "nop.recalibration.failed";
    type Data = Self;
}

/// How an orchestrated recalibration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RecalibrationOutcome {
    /// Every step was done.
    Completed,
    /// A step failed and the steps done before it were compensated.
    Compensated,
    /// A compensation failed or got no answer: the sensor needs a person.
    Stuck,
}

/// An orchestrated recalibration ended. Type `nop.recalibration.ended`, v1, from its process
/// manager (a choreographed saga has nobody who knows that it ended).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecalibrationEnded {
    /// The sensor's id.
    pub sensor: String,
    /// How.
    pub outcome: RecalibrationOutcome,
    /// The step that failed (`null` when completed).
    #[serde(default)]
    pub failed_step: Option<RecalibrationStep>,
    /// The steps compensated, in the order they were undone.
    #[serde(default)]
    pub compensated: Vec<RecalibrationStep>,
}

impl Event for RecalibrationEnded {
    const TYPE: &'static str = "nop.recalibration.ended";
    type Data = Self;
}

/// Every NOP contract, for `cargo xtask schema`.
#[cfg(feature = "schema")]
pub fn contracts() -> Vec<herald_schema::Contract> {
    use herald_schema::Contract;
    vec![
        Contract::of::<NoiseReading>(),
        Contract::of::<SensorSelected>(),
        Contract::of::<NoiseAlert>(),
        Contract::of::<LatestReading>(),
        Contract::of::<MuteSensor>(),
        Contract::of::<SensorMuted>(),
        Contract::of::<SensorCalibrated>(),
        Contract::of::<RecalibrationRequested>(),
        Contract::of::<RecalibrationCommand>(),
        Contract::of::<SensorOffline>(),
        Contract::of::<SensorOnline>(),
        Contract::of::<CalibrationReverted>(),
        Contract::of::<RecalibrationFailed>(),
        Contract::of::<RecalibrationEnded>(),
    ]
}
