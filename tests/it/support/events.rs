//! Event-bus specs for the broker tests: building one spec with some
//! backends, and generating specs from a seed, each with a description of
//! what it declares (`GenSpec`), so a test can compare what a broker reports
//! with the spec and not with the emitter's own idea of it.

use std::fmt::Write as _;

use meshc::emit::Artifact;

use super::write_files;

/// An Avro schema every generated topic uses.
pub const AVRO: &str = r#"{"type": "record", "name": "OrderPlaced", "namespace": "shop.orders",
 "fields": [{"name": "orderId", "type": "string"}]}
"#;

/// What a spec built to: the artifacts of the backends asked for, and the
/// diagnostics as a person reads them (warnings included).
pub struct Built {
    pub artifacts: Vec<Artifact>,
    pub diagnostics: String,
    /// The build's MESH0073 messages.
    pub warnings: Vec<String>,
}

impl Built {
    pub fn artifact(&self, path: &str) -> &Artifact {
        self.artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| {
            let paths: Vec<&str> = self.artifacts.iter().map(|a| a.path.as_str()).collect();
            panic!("no artifact {path}; there are {paths:?}")
        })
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.artifact(path).contents).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    }

    /// The artifacts under `prefix`, by path.
    pub fn under(&self, prefix: &str) -> Vec<&Artifact> {
        self.artifacts.iter().filter(|a| a.path.starts_with(prefix)).collect()
    }
}

/// Compiles the workspace `files` and builds it with `backends`; panics
/// (showing the spec and the diagnostics) when it has errors.
pub fn build(files: &[(String, String)], backends: &[&str]) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    write_files(dir.path(), &refs);
    let compilation = meshc::driver::compile(dir.path());
    let options = meshc::emit::Options::default().with_backends(backends.iter().copied()).unwrap();
    let built = compilation.build(&options);
    let mut diagnostics = meshc::diag::render::render(
        meshc::diag::render::Format::Human,
        &compilation.diagnostics,
        &compilation.sources,
        false,
    );
    match built {
        Ok(built) => {
            // Build-time warnings (MESH0073) are the build's own.
            diagnostics.push_str(&meshc::diag::render::render(
                meshc::diag::render::Format::Human,
                &built.warnings,
                &compilation.sources,
                false,
            ));
            Built {
                artifacts: built.artifacts,
                diagnostics,
                warnings: built.warnings.iter().map(|d| d.message.clone()).collect(),
            }
        }
        Err(e) => {
            let spec = files.iter().map(|(p, t)| format!("//- {p}\n{t}")).collect::<Vec<_>>().join("\n");
            panic!("the spec does not build:\n{spec}\n----\n{diagnostics}\n{e:?}")
        }
    }
}

/// A small deterministic generator (xorshift).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nats,
    Rabbitmq,
    Kafka,
}

/// A generated stream, as the spec declares it (`None`: not written).
#[derive(Clone, Debug, Default)]
pub struct GenStream {
    pub topic: String,
    pub subjects: Vec<String>,
    /// Durations in seconds.
    pub max_age: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_messages: Option<u64>,
    pub discard: Option<&'static str>,
    pub replicas: Option<u8>,
    pub retention: Option<&'static str>,
    pub storage: Option<&'static str>,
    pub duplicate_window: Option<u64>,
    pub exchange_type: Option<&'static str>,
    pub queue_type: Option<&'static str>,
    pub partitions: Option<u32>,
    pub min_insync: Option<u8>,
    pub cleanup: Option<&'static str>,
    /// Whether it is the dead-letter topic of other consumers.
    pub dead_letter: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenBackoff {
    None,
    /// Seconds.
    Fixed(u64),
    /// Initial and max, seconds.
    Exponential(u64, u64),
}

/// A generated consumer, as the spec declares it.
#[derive(Clone, Debug)]
pub struct GenConsumer {
    pub service: String,
    pub topic: String,
    pub group: Option<String>,
    pub subject_filters: Vec<String>,
    pub header_filters: Vec<(String, String)>,
    pub at_most_once: bool,
    pub ack: &'static str,
    /// Seconds.
    pub ack_wait: Option<u64>,
    pub max_in_flight: Option<u32>,
    pub max_deliveries: Option<u32>,
    pub backoff: GenBackoff,
    /// A topic, or `None` with `max_deliveries`: dropped.
    pub dead_letter: Option<String>,
}

/// A generated spec: its files and what it declares.
#[derive(Clone, Debug)]
pub struct GenSpec {
    pub seed: u64,
    pub broker: String,
    pub vhost: Option<String>,
    pub streams: Vec<GenStream>,
    pub consumers: Vec<GenConsumer>,
    pub files: Vec<(String, String)>,
}

impl GenSpec {
    pub fn stream(&self, topic: &str) -> &GenStream {
        self.streams.iter().find(|s| s.topic == topic).unwrap()
    }

    /// The spec, for a failure message.
    pub fn text(&self) -> String {
        format!("seed {}:\n{}", self.seed, self.files[0].1)
    }
}

/// What the generator may use.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    /// JetStream clusters' size; 1: a single server (replicas 1 only).
    pub nats_replicas: u8,
    /// How many subject filters a NATS consumer may have (1 before NATS 2.10).
    pub nats_filters: usize,
}

/// One spec for a broker of `kind`, its names starting with `prefix` (a
/// lowercase name unique to the test run).
pub fn generate(kind: Kind, seed: u64, prefix: &str, options: GenOptions) -> GenSpec {
    let mut rng = Rng::new(seed);
    let broker = "bus".to_string();
    let vhost = (kind == Kind::Rabbitmq).then(|| format!("{prefix}-vh"));
    let topics = 1 + rng.below(3) as usize;
    let mut streams = Vec::new();
    for t in 0..topics {
        streams.push(gen_stream(&mut rng, kind, &format!("{prefix}-t{t}"), &format!("{prefix}.t{t}"), options));
    }
    // A dead-letter topic, read by a service of its own.
    let dlq = format!("{prefix}-dlq");
    let mut dead = gen_stream(&mut rng, kind, &dlq, &format!("{prefix}.dlq"), options);
    dead.subjects = if kind == Kind::Kafka { Vec::new() } else { vec![format!("{prefix}.dlq")] };
    if kind == Kind::Nats {
        dead.retention = Some("limits");
    }
    if kind == Kind::Rabbitmq {
        // Dead letters arrive under the dead-letter stream's subject.
        dead.exchange_type = Some(*rng.pick(&["topic", "direct"]));
    }
    dead.dead_letter = true;
    let mut consumers = Vec::new();
    for (t, stream) in streams.iter().enumerate() {
        let groups = if stream.retention == Some("work-queue") { 1 } else { rng.below(3) as usize };
        for g in 0..groups {
            consumers.push(gen_consumer(
                &mut rng,
                kind,
                stream,
                &format!("c{t}x{g}"),
                Some(format!("g{g}")),
                &dlq,
                options,
            ));
        }
        if kind != Kind::Kafka && stream.retention != Some("work-queue") && rng.chance(30) {
            consumers.push(gen_consumer(&mut rng, kind, stream, &format!("c{t}e"), None, &dlq, options));
        }
    }
    consumers.push(GenConsumer {
        service: "support".into(),
        topic: dlq.clone(),
        group: Some("support".into()),
        subject_filters: Vec::new(),
        header_filters: Vec::new(),
        at_most_once: false,
        ack: "explicit",
        ack_wait: None,
        max_in_flight: None,
        max_deliveries: Some(3),
        backoff: GenBackoff::None,
        dead_letter: None,
    });
    streams.push(dead);
    let text = render(kind, &broker, vhost.as_deref(), &streams, &consumers);
    GenSpec {
        seed,
        broker,
        vhost,
        streams,
        consumers,
        files: vec![("mesh.kdl".into(), text), ("schemas/event.avsc".into(), AVRO.into())],
    }
}

fn gen_stream(rng: &mut Rng, kind: Kind, topic: &str, subject_root: &str, options: GenOptions) -> GenStream {
    let mut s = GenStream { topic: topic.to_string(), ..GenStream::default() };
    if kind != Kind::Kafka {
        s.subjects = match rng.below(3) {
            0 => vec![format!("{subject_root}.>")],
            1 => vec![format!("{subject_root}.a"), format!("{subject_root}.b")],
            _ => vec![format!("{subject_root}.a"), format!("{subject_root}.*.x")],
        };
    }
    if rng.chance(60) {
        s.max_age = Some(*rng.pick(&[30, 90, 3600, 86_400, 604_800]));
    }
    if rng.chance(50) {
        s.max_bytes = Some(*rng.pick(&[1 << 20, 10_000_000, 1 << 30]));
    }
    let stream_queue = kind == Kind::Rabbitmq && rng.chance(25);
    if rng.chance(40) && kind != Kind::Kafka && !stream_queue {
        s.max_messages = Some(*rng.pick(&[100, 10_000, 1_000_000]));
    }
    if rng.chance(50) && kind != Kind::Kafka && !stream_queue {
        s.discard = Some(*rng.pick(&["old", "new"]));
    }
    match kind {
        Kind::Nats => {
            if options.nats_replicas > 1 && rng.chance(50) {
                s.replicas = Some(1 + rng.below(u64::from(options.nats_replicas)) as u8);
            }
            if rng.chance(50) {
                s.retention = Some(*rng.pick(&["limits", "interest", "work-queue"]));
            }
            if rng.chance(50) {
                s.storage = Some(*rng.pick(&["file", "memory"]));
            }
            if rng.chance(50) {
                let window = *rng.pick(&[10, 60, 120]);
                s.duplicate_window = Some(s.max_age.map_or(window, |age| window.min(age)));
            }
        }
        Kind::Rabbitmq => {
            s.queue_type = if stream_queue { Some("stream") } else { Some(*rng.pick(&["classic", "quorum"])) };
            if rng.chance(40) {
                s.exchange_type = Some(*rng.pick(&["topic", "direct", "fanout", "headers"]));
            }
            if s.exchange_type == Some("direct") {
                // Routing keys must be literal on a direct exchange.
                s.subjects = vec![format!("{subject_root}.a"), format!("{subject_root}.b")];
            }
            if s.queue_type != Some("classic") && rng.chance(50) {
                s.replicas = Some(1 + rng.below(3) as u8);
            }
        }
        Kind::Kafka => {
            if rng.chance(70) {
                s.partitions = Some(*rng.pick(&[1, 3, 12]));
            }
            if rng.chance(50) {
                s.replicas = Some(1 + rng.below(3) as u8);
            }
            if rng.chance(40) {
                s.min_insync = Some(1 + rng.below(u64::from(s.replicas.unwrap_or(1))) as u8);
            }
            if rng.chance(50) {
                s.cleanup = Some(*rng.pick(&["delete", "compact,delete"]));
            }
        }
    }
    s
}

fn gen_consumer(
    rng: &mut Rng,
    kind: Kind,
    stream: &GenStream,
    service: &str,
    group: Option<String>,
    dlq: &str,
    options: GenOptions,
) -> GenConsumer {
    let literal: Vec<String> = stream.subjects.iter().map(|s| s.replace(".>", ".x").replace(".*.", ".y.")).collect();
    let mut subject_filters = Vec::new();
    let mut header_filters = Vec::new();
    let exchange = stream.exchange_type.unwrap_or("topic");
    let routes_by_key = kind == Kind::Nats || (kind == Kind::Rabbitmq && matches!(exchange, "topic" | "direct"));
    if routes_by_key && rng.chance(50) {
        let max = if kind == Kind::Nats { options.nats_filters.max(1) } else { 2 };
        let wanted = 1 + rng.below(max as u64) as usize;
        for subject in literal.iter().take(wanted) {
            subject_filters.push(subject.clone());
        }
    }
    if kind == Kind::Rabbitmq && exchange == "headers" && rng.chance(60) {
        header_filters.push(("x-region".to_string(), (*rng.pick(&["eu", "us"])).to_string()));
    }
    let at_most_once = kind == Kind::Nats && rng.chance(15);
    let mut consumer = GenConsumer {
        service: service.to_string(),
        topic: stream.topic.clone(),
        group,
        subject_filters,
        header_filters,
        at_most_once,
        ack: "explicit",
        ack_wait: None,
        max_in_flight: None,
        max_deliveries: None,
        backoff: GenBackoff::None,
        dead_letter: None,
    };
    if at_most_once {
        return consumer;
    }
    if kind == Kind::Nats && stream.retention != Some("work-queue") && rng.chance(25) {
        consumer.ack = "all";
    }
    if rng.chance(50) {
        consumer.ack_wait = Some(*rng.pick(&[5, 30, 120]));
    }
    if rng.chance(40) {
        consumer.max_in_flight = Some(*rng.pick(&[1, 10, 500]));
    }
    consumer.max_deliveries = Some(*rng.pick(&[1, 3, 5, 10]));
    consumer.backoff = match rng.below(3) {
        0 => GenBackoff::None,
        1 => GenBackoff::Fixed(*rng.pick(&[1, 5, 60])),
        _ => GenBackoff::Exponential(1, *rng.pick(&[4, 30, 300])),
    };
    if rng.chance(60) {
        consumer.dead_letter = Some(dlq.to_string());
    }
    consumer
}

fn render(kind: Kind, broker: &str, vhost: Option<&str>, streams: &[GenStream], consumers: &[GenConsumer]) -> String {
    let mut out = String::from("mesh \"gen\"\n\n");
    let kind_name = match kind {
        Kind::Nats => "nats",
        Kind::Rabbitmq => "rabbitmq",
        Kind::Kafka => "kafka",
    };
    writeln!(out, "broker \"{broker}\" kind=\"{kind_name}\" {{").unwrap();
    writeln!(out, "    address \"broker.infra.svc.cluster.local\" port=4222").unwrap();
    if let Some(vhost) = vhost {
        writeln!(out, "    vhost \"{vhost}\"").unwrap();
    }
    out.push_str("}\n");
    for s in streams {
        writeln!(
            out,
            "\ntopic \"{}\" {{\n    schema \"schemas/event.avsc\"\n    stream broker=\"{broker}\" {{",
            s.topic
        )
        .unwrap();
        if !s.subjects.is_empty() {
            let quoted: Vec<String> = s.subjects.iter().map(|x| format!("\"{x}\"")).collect();
            writeln!(out, "        subjects {}", quoted.join(" ")).unwrap();
        }
        let mut line = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                writeln!(out, "        {key} {value}").unwrap();
            }
        };
        line("max-age", s.max_age.map(|v| format!("\"{v}s\"")));
        line("max-bytes", s.max_bytes.map(|v| format!("\"{v}\"")));
        line("max-messages", s.max_messages.map(|v| v.to_string()));
        line("discard", s.discard.map(|v| format!("\"{v}\"")));
        line("replicas", s.replicas.map(|v| v.to_string()));
        line("retention", s.retention.map(|v| format!("\"{v}\"")));
        line("storage", s.storage.map(|v| format!("\"{v}\"")));
        line("duplicate-window", s.duplicate_window.map(|v| format!("\"{v}s\"")));
        line("exchange-type", s.exchange_type.map(|v| format!("\"{v}\"")));
        line("queue-type", s.queue_type.map(|v| format!("\"{v}\"")));
        line("partitions", s.partitions.map(|v| v.to_string()));
        line("min-insync-replicas", s.min_insync.map(|v| v.to_string()));
        line("cleanup-policy", s.cleanup.map(|v| format!("\"{v}\"")));
        out.push_str("    }\n}\n");
    }
    // One producer per topic, under its first subject made literal.
    out.push_str(
        "\nservice \"producer\" {\n    owner \"gen\"\n    address \"producer.gen.svc.cluster.local\" port=8080\n",
    );
    for s in streams.iter().filter(|s| !s.dead_letter) {
        match s.subjects.first() {
            Some(subject) => {
                let literal = subject.replace(".>", ".x").replace(".*.", ".y.");
                writeln!(out, "    publishes \"{}\" subject=\"{literal}\"", s.topic).unwrap()
            }
            None => writeln!(out, "    publishes \"{}\"", s.topic).unwrap(),
        }
    }
    out.push_str("}\n");
    let mut services: Vec<&str> = consumers.iter().map(|c| c.service.as_str()).collect();
    services.dedup();
    for service in services {
        writeln!(out, "\nservice \"{service}\" {{\n    owner \"gen\"").unwrap();
        for c in consumers.iter().filter(|c| c.service == service) {
            let group = c.group.as_ref().map(|g| format!(" group=\"{g}\"")).unwrap_or_default();
            writeln!(out, "    subscribes \"{}\"{group} {{", c.topic).unwrap();
            for f in &c.subject_filters {
                writeln!(out, "        filter subject=\"{f}\"").unwrap();
            }
            for (name, value) in &c.header_filters {
                writeln!(out, "        filter header=\"{name}\" equals=\"{value}\"").unwrap();
            }
            if c.at_most_once {
                out.push_str("        delivery \"at-most-once\"\n    }\n");
                continue;
            }
            let mut delivery = format!("        delivery \"at-least-once\" ack=\"{}\"", c.ack);
            if let Some(wait) = c.ack_wait {
                write!(delivery, " ack-wait=\"{wait}s\"").unwrap();
            }
            if let Some(n) = c.max_in_flight {
                write!(delivery, " max-in-flight={n}").unwrap();
            }
            writeln!(out, "{delivery}").unwrap();
            let backoff = match c.backoff {
                GenBackoff::None => " backoff=\"none\"".to_string(),
                GenBackoff::Fixed(d) => format!(" backoff=\"fixed\" delay=\"{d}s\""),
                GenBackoff::Exponential(i, m) => format!(" backoff=\"exponential\" initial=\"{i}s\" max=\"{m}s\""),
            };
            if let Some(n) = c.max_deliveries {
                writeln!(out, "        retry max-deliveries={n}{backoff}").unwrap();
                match &c.dead_letter {
                    Some(topic) => writeln!(out, "        dead-letter \"{topic}\"").unwrap(),
                    None => out.push_str("        dead-letter drop=#true\n"),
                }
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n");
    }
    out
}
