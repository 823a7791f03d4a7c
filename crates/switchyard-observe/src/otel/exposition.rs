//! The Prometheus text exposition of a [`Metrics`](crate::Metrics) registry, read back into families
//! and written as OTLP `Metric` messages for `metrics.otlp` (see [`super::push`]).
//!
//! Only what the registry writes needs reading: `# HELP` and `# TYPE` lines, then samples
//! `name{label="value",…} number`, label values escaped with `\\`, `\"` and `\n`.

use super::proto;

/// A metric family's kind, from its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One family and its points.
#[derive(Debug, PartialEq)]
pub(super) struct Family {
    /// The sample name of counters (`…_total`) and gauges, the family name of histograms.
    name: String,
    help: String,
    kind: Kind,
    points: Vec<Point>,
}

/// One label set's values.
#[derive(Debug, PartialEq)]
struct Point {
    labels: Labels,
    value: f64,
    /// A histogram's cumulative buckets (`le`, count), then its sum and count.
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The families of an exposition, in its order.
pub(super) fn parse(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    let mut help = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').map_or("", |(_, h)| h).to_owned();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = match kind {
                "counter" => Kind::Counter,
                "histogram" => Kind::Histogram,
                _ => Kind::Gauge,
            };
            let help = std::mem::take(&mut help);
            families.push(Family {
                name: name.to_owned(),
                help,
                kind,
                points: Vec::new(),
            });
        } else if !line.starts_with('#') && !line.is_empty() {
            if let (Some(family), Some(sample)) = (families.last_mut(), sample(line)) {
                family.add(sample);
            }
        }
    }
    families
}

/// A sample's labels, in the order written.
type Labels = Vec<(String, String)>;

/// A sample line: its name, labels and value.
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inside) => labels(inside)?,
        None => (Vec::new(), rest),
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some((name, labels, value))
}

/// `key="value",…}` and what follows the closing brace.
fn labels(mut text: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches(',');
        if let Some(rest) = text.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => value.push(match chars.next()?.1 {
                    'n' => '\n',
                    other => other,
                }),
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        text = &rest[end + 1..];
    }
}

impl Family {
    fn add(&mut self, (name, mut labels, value): (&str, Labels, f64)) {
        if self.kind != Kind::Histogram {
            self.name = name.to_owned();
            self.points.push(Point {
                labels,
                value,
                buckets: Vec::new(),
                sum: 0.0,
                count: 0.0,
            });
            return;
        }
        let le = labels.iter().position(|(k, _)| k == "le").map(|i| labels.remove(i).1);
        let point = match self.points.iter_mut().find(|p| p.labels == labels) {
            Some(point) => point,
            None => {
                self.points.push(Point {
                    labels,
                    value: 0.0,
                    buckets: Vec::new(),
                    sum: 0.0,
                    count: 0.0,
                });
                self.points.last_mut().expect("just pushed")
            }
        };
        let suffix = name.strip_prefix(self.name.as_str()).unwrap_or_default();
        match (suffix, le) {
            ("_bucket", Some(le)) => {
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                point.buckets.push((bound, value));
            }
            ("_sum", _) => point.sum = value,
            ("_count", _) => point.count = value,
            _ => {}
        }
    }

    /// The family as an OTLP `Metric`: counters as cumulative monotonic sums, gauges as gauges,
    /// histograms as cumulative explicit-bucket histograms; `times` are the start and now.
    pub(super) fn encode(&self, times: (u64, u64)) -> Vec<u8> {
        let mut metric = Vec::new();
        proto::bytes(&mut metric, 1, self.name.as_bytes());
        proto::bytes(&mut metric, 2, self.help.as_bytes());
        if self.name.ends_with("_seconds") {
            proto::bytes(&mut metric, 3, b"s");
        }
        let mut data = Vec::new();
        for point in &self.points {
            let encoded = match self.kind {
                Kind::Histogram => point.histogram(times),
                Kind::Counter | Kind::Gauge => point.number(times),
            };
            proto::bytes(&mut data, 1, &encoded);
        }
        // Sum and Histogram: cumulative temporality (2); a Sum is monotonic.
        match self.kind {
            Kind::Counter => {
                proto::varint(&mut data, 2, 2);
                proto::varint(&mut data, 3, 1);
                proto::bytes(&mut metric, 7, &data);
            }
            Kind::Gauge => proto::bytes(&mut metric, 5, &data),
            Kind::Histogram => {
                proto::varint(&mut data, 2, 2);
                proto::bytes(&mut metric, 9, &data);
            }
        }
        metric
    }
}

impl Point {
    fn attributes(&self, buf: &mut Vec<u8>, field: u32) {
        for (key, value) in &self.labels {
            proto::attr_str(buf, field, key, value);
        }
    }

    /// A `NumberDataPoint` with a double value.
    fn number(&self, (start, now): (u64, u64)) -> Vec<u8> {
        let mut point = Vec::new();
        self.attributes(&mut point, 7);
        proto::fixed64(&mut point, 2, start);
        proto::fixed64(&mut point, 3, now);
        proto::double(&mut point, 4, self.value);
        point
    }

    /// A `HistogramDataPoint`: counts per bucket (not cumulative), the finite bounds, sum and count.
    fn histogram(&self, (start, now): (u64, u64)) -> Vec<u8> {
        let mut point = Vec::new();
        self.attributes(&mut point, 9);
        proto::fixed64(&mut point, 2, start);
        proto::fixed64(&mut point, 3, now);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "counts are whole and small"
        )]
        let whole = |v: f64| v.max(0.0) as u64;
        proto::fixed64(&mut point, 4, whole(self.count));
        proto::double(&mut point, 5, self.sum);
        let mut buckets = self.buckets.clone();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let counts = buckets.iter().scan(0.0, |below, (_, cumulative)| {
            let count = cumulative - *below;
            *below = *cumulative;
            Some(whole(count))
        });
        proto::packed_fixed64(&mut point, 6, counts.collect::<Vec<_>>().into_iter());
        let bounds = buckets
            .iter()
            .filter(|(le, _)| le.is_finite())
            .map(|(le, _)| le.to_bits());
        proto::packed_fixed64(&mut point, 7, bounds.collect::<Vec<_>>().into_iter());
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = concat!(
        "# HELP traefik_entrypoint_requests HTTP requests.\n",
        "# TYPE traefik_entrypoint_requests counter\n",
        "traefik_entrypoint_requests_total{code=\"200\",method=\"GET\",entrypoint=\"we\\\"b\"} 3\n",
        "# HELP traefik_entrypoint_request_duration_seconds Seconds.\n",
        "# TYPE traefik_entrypoint_request_duration_seconds histogram\n",
        "traefik_entrypoint_request_duration_seconds_sum{entrypoint=\"web\"} 0.5\n",
        "traefik_entrypoint_request_duration_seconds_count{entrypoint=\"web\"} 3\n",
        "traefik_entrypoint_request_duration_seconds_bucket{le=\"0.1\",entrypoint=\"web\"} 1\n",
        "traefik_entrypoint_request_duration_seconds_bucket{le=\"1.0\",entrypoint=\"web\"} 3\n",
        "traefik_entrypoint_request_duration_seconds_bucket{le=\"+Inf\",entrypoint=\"web\"} 3\n",
        "# HELP traefik_config_reloads Reloads.\n",
        "# TYPE traefik_config_reloads counter\n",
        "traefik_config_reloads_total 2\n",
        "# EOF\n",
    );

    #[test]
    fn the_exposition_reads_back_into_families() {
        let families = parse(TEXT);
        assert_eq!(families.len(), 3);
        let requests = &families[0];
        assert_eq!(
            (requests.name.as_str(), requests.kind),
            ("traefik_entrypoint_requests_total", Kind::Counter)
        );
        assert_eq!(
            requests.points[0].labels[2],
            ("entrypoint".to_owned(), "we\"b".to_owned())
        );
        assert_eq!(requests.points[0].value, 3.0);
        let duration = &families[1].points[0];
        assert_eq!(duration.labels, [("entrypoint".to_owned(), "web".to_owned())]);
        assert_eq!(duration.buckets, [(0.1, 1.0), (1.0, 3.0), (f64::INFINITY, 3.0)]);
        assert_eq!((duration.sum, duration.count), (0.5, 3.0));
        assert_eq!(families[2].points[0].labels, []);
    }
}
