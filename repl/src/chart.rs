//! Drawing a result that ends in `render`: in the terminal as text, or to an SVG file.
//!
//! Which columns go where follows Kusto's defaults: the x axis is `xcolumn` or the first column;
//! the y series are `ycolumns` or every numeric column after it; for time and line charts a
//! string column splits the rows into one series per value.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use kql_engine::planner::Render;
use kql_engine::render::format_field_cell;

/// The charts drawn; other `render` kinds print the table.
const KINDS: [&str; 8] = ["timechart", "linechart", "areachart", "scatterchart", "barchart", "columnchart", "piechart", "ladderchart"];

pub struct Chart {
    kind: String,
    title: String,
    /// One label per x position (category charts) or the x value's text (line charts).
    labels: Vec<String>,
    xs: Vec<f64>,
    /// Series name → y per x position (`NaN` where the series has no value).
    series: BTreeMap<String, Vec<f64>>,
}

impl Chart {
    /// The chart of a result, or `None` when the render kind is not drawn or the result has no
    /// numeric column to draw.
    pub fn of(render: &Render, schema: &SchemaRef, batches: &[RecordBatch]) -> Option<Chart> {
        if !KINDS.contains(&render.kind.as_str()) {
            return None;
        }
        let fields = schema.fields();
        let x_index = match &render.xcolumn {
            Some(x) => schema.index_of(x).ok()?,
            None => 0,
        };
        let numeric = |t: &DataType| t.is_numeric();
        let y_indexes: Vec<usize> = if render.ycolumns.is_empty() {
            (0..fields.len()).filter(|&i| i != x_index && numeric(fields[i].data_type())).collect()
        } else {
            render.ycolumns.iter().filter_map(|c| schema.index_of(c).ok()).collect()
        };
        let split = (0..fields.len()).find(|&i| {
            i != x_index
                && !y_indexes.contains(&i)
                && matches!(fields[i].data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        });
        if y_indexes.is_empty() {
            return None;
        }
        let x_field = &fields[x_index];
        let x_is_number = x_field.data_type().is_numeric() || matches!(x_field.data_type(), DataType::Timestamp(..));
        let line = is_line_kind(&render.kind);
        let mut chart = Chart {
            kind: render.kind.clone(),
            title: render.title.clone().unwrap_or_default(),
            labels: vec![],
            xs: vec![],
            series: BTreeMap::new(),
        };
        let mut position: BTreeMap<String, usize> = BTreeMap::new();
        for batch in batches {
            let x_col = batch.column(x_index);
            let x_numbers = x_is_number.then(|| cast(x_col, &DataType::Float64).ok()).flatten();
            let ys: Vec<_> = y_indexes.iter().filter_map(|&i| cast(batch.column(i), &DataType::Float64).ok()).collect();
            for row in 0..batch.num_rows() {
                let label = format_field_cell(x_field, x_col.as_ref(), row).unwrap_or_default();
                let at = *position.entry(label.clone()).or_insert_with(|| {
                    chart.labels.push(label.clone());
                    let x = x_numbers.as_ref().filter(|a| a.is_valid(row)).map(|a| a.as_primitive::<Float64Type>().value(row));
                    chart.xs.push(x.unwrap_or(chart.xs.len() as f64));
                    chart.xs.len() - 1
                });
                for (k, y) in ys.iter().enumerate() {
                    let y_name = fields[y_indexes[k]].name();
                    let name = match split.filter(|_| line) {
                        Some(s) => {
                            let key = format_field_cell(&fields[s], batch.column(s).as_ref(), row).unwrap_or_default();
                            if ys.len() > 1 { format!("{key}:{y_name}") } else { key }
                        }
                        None => y_name.clone(),
                    };
                    let values = chart.series.entry(name).or_default();
                    if values.len() <= at {
                        values.resize(at + 1, f64::NAN);
                    }
                    values[at] = if y.is_valid(row) { y.as_primitive::<Float64Type>().value(row) } else { f64::NAN };
                }
            }
        }
        for values in chart.series.values_mut() {
            values.resize(chart.xs.len(), f64::NAN);
        }
        // Line charts run left to right along x, whatever order the rows came in.
        if line && x_is_number {
            let mut order: Vec<usize> = (0..chart.xs.len()).collect();
            order.sort_by(|&a, &b| chart.xs[a].total_cmp(&chart.xs[b]));
            chart.xs = order.iter().map(|&i| chart.xs[i]).collect();
            chart.labels = order.iter().map(|&i| chart.labels[i].clone()).collect();
            for values in chart.series.values_mut() {
                *values = order.iter().map(|&i| values[i]).collect();
            }
        }
        Some(chart)
    }

    fn is_line(&self) -> bool {
        is_line_kind(&self.kind)
    }

    fn y_range(&self) -> (f64, f64) {
        let all = self.series.values().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if lo == hi {
            (lo.min(0.0), hi.max(lo + 1.0))
        } else {
            (lo.min(0.0), hi)
        }
    }

    /// The chart as text `width` columns wide: a plot of markers for line charts, bars for the
    /// others.
    pub fn to_text(&self, width: usize) -> String {
        let mut out = String::new();
        if !self.title.is_empty() {
            let _ = writeln!(out, "{}", self.title);
        }
        if self.is_line() {
            self.text_plot(&mut out, width)
        } else {
            self.text_bars(&mut out, width)
        }
        out
    }

    fn text_plot(&self, out: &mut String, width: usize) {
        const MARKERS: [char; 6] = ['*', '+', 'o', 'x', '#', '@'];
        let (lo, hi) = self.y_range();
        let height = 15;
        let plot_width = width.saturating_sub(12).clamp(20, 200);
        let (x_lo, x_hi) = (self.xs.first().copied().unwrap_or(0.0), self.xs.last().copied().unwrap_or(1.0));
        let mut grid = vec![vec![' '; plot_width]; height];
        for (s, values) in self.series.values().enumerate() {
            for (i, v) in values.iter().enumerate() {
                if !v.is_finite() {
                    continue;
                }
                let col = if x_hi > x_lo { ((self.xs[i] - x_lo) / (x_hi - x_lo) * (plot_width - 1) as f64).round() as usize } else { 0 };
                let row = ((hi - v) / (hi - lo) * (height - 1) as f64).round() as usize;
                grid[row.min(height - 1)][col.min(plot_width - 1)] = MARKERS[s % MARKERS.len()];
            }
        }
        for (r, line) in grid.iter().enumerate() {
            let axis = if r == 0 {
                format!("{:>10}", format_number(hi))
            } else if r == height - 1 {
                format!("{:>10}", format_number(lo))
            } else {
                " ".repeat(10)
            };
            let _ = writeln!(out, "{axis} │{}", line.iter().collect::<String>().trim_end());
        }
        let _ = writeln!(out, "{} └{}", " ".repeat(10), "─".repeat(plot_width));
        let first = self.labels.first().cloned().unwrap_or_default();
        let last = self.labels.last().cloned().unwrap_or_default();
        let gap = plot_width.saturating_sub(first.chars().count() + last.chars().count());
        let _ = writeln!(out, "{}  {first}{}{last}", " ".repeat(10), " ".repeat(gap));
        for (s, name) in self.series.keys().enumerate() {
            let _ = writeln!(out, "{}  {} {name}", " ".repeat(10), MARKERS[s % MARKERS.len()]);
        }
    }

    fn text_bars(&self, out: &mut String, width: usize) {
        let label_width = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).min(30);
        let bar_width = width.saturating_sub(label_width + 16).clamp(10, 120);
        let (_, hi) = self.y_range();
        let pie_total: f64 = self.series.values().next().map_or(0.0, |v| v.iter().filter(|x| x.is_finite()).sum());
        for (name, values) in &self.series {
            if self.series.len() > 1 {
                let _ = writeln!(out, "{name}");
            }
            for (label, v) in self.labels.iter().zip(values) {
                let v = if v.is_finite() { *v } else { 0.0 };
                let share = if self.kind == "piechart" { v / pie_total.max(f64::MIN_POSITIVE) } else { v / hi.max(f64::MIN_POSITIVE) };
                let bar = "█".repeat((share.max(0.0) * bar_width as f64).round() as usize);
                let shown: String = label.chars().take(label_width).collect();
                let value = if self.kind == "piechart" { format!("{:.1}%", share * 100.0) } else { format_number(v) };
                let _ = writeln!(out, "{shown:>label_width$} │{bar} {value}");
            }
        }
    }

    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        const COLOURS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
        let (w, h, left, bottom, top) = (800.0, 450.0, 70.0, 60.0, 40.0);
        let (plot_w, plot_h) = (w - left - 20.0, h - top - bottom);
        let (lo, hi) = self.y_range();
        let y_of = |v: f64| top + (hi - v) / (hi - lo) * plot_h;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        );
        let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        let _ = writeln!(svg, "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>", w / 2.0, escape(&self.title));
        let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>", top + plot_h);
        let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/>", top + plot_h, left + plot_w);
        for (v, anchor) in [(hi, "end"), (lo, "end")] {
            let _ =
                writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>", left - 6.0, y_of(v) + 4.0, format_number(v));
        }
        let n = self.xs.len().max(1);
        let (x_lo, x_hi) = (self.xs.first().copied().unwrap_or(0.0), self.xs.last().copied().unwrap_or(1.0));
        for (s, (name, values)) in self.series.iter().enumerate() {
            let colour = COLOURS[s % COLOURS.len()];
            if self.is_line() {
                let x_of = |i: usize| left + if x_hi > x_lo { (self.xs[i] - x_lo) / (x_hi - x_lo) * plot_w } else { 0.0 };
                let points: Vec<String> = values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
                    .collect();
                if self.kind == "scatterchart" {
                    for p in &points {
                        let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                        let _ = writeln!(svg, "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{colour}\"/>");
                    }
                } else {
                    let _ =
                        writeln!(svg, "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>", points.join(" "));
                }
            } else {
                let slot = plot_w / n as f64;
                let bar = slot * 0.8 / self.series.len() as f64;
                for (i, v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                    let x = left + slot * i as f64 + slot * 0.1 + bar * s as f64;
                    let _ = writeln!(
                        svg,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
                        y_of(*v),
                        (y_of(lo.max(0.0)) - y_of(*v)).max(0.0)
                    );
                }
            }
            let _ = writeln!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                left + 120.0 * s as f64,
                h - 18.0,
                left + 14.0 + 120.0 * s as f64,
                h - 9.0,
                escape(name)
            );
        }
        if self.is_line() {
            // The two ends of the x axis.
            let first = self.labels.first().cloned().unwrap_or_default();
            let last = self.labels.last().cloned().unwrap_or_default();
            let _ = writeln!(svg, "<text x=\"{left}\" y=\"{}\">{}</text>", top + plot_h + 16.0, escape(&first));
            let _ =
                writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", left + plot_w, top + plot_h + 16.0, escape(&last));
        } else {
            // Each category under its bars.
            let slot = plot_w / n as f64;
            for (i, label) in self.labels.iter().enumerate() {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    left + slot * (i as f64 + 0.5),
                    top + plot_h + 16.0,
                    escape(label)
                );
            }
        }
        svg.push_str("</svg>\n");
        svg
    }
}

impl Chart {
    /// The chart for a file, by its extension: a PNG image (the SVG rasterised with resvg), an
    /// HTML page holding the SVG, or the SVG.
    pub fn for_file(&self, path: &std::path::Path) -> Result<Vec<u8>, String> {
        let svg = self.to_svg();
        match path.extension().and_then(|e| e.to_str()) {
            Some("png") => to_png(&svg),
            Some("html" | "htm") => Ok(format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n{svg}</body></html>\n",
                escape(&self.title)
            )
            .into_bytes()),
            _ => Ok(svg.into_bytes()),
        }
    }

    /// Writes the chart to `path` in the format its extension names.
    pub fn write_file(&self, path: &std::path::Path) -> Result<(), String> {
        let bytes = self.for_file(path)?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Whether `.output FILE` should get the chart rather than the rows.
pub fn is_chart_file(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "svg" || e == "html" || e == "htm" || e == "png")
}

/// Rasterises an SVG document; text uses the system's fonts (none installed leaves it out).
fn to_png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("cannot draw the chart: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("cannot draw the chart: empty image")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("cannot encode the chart as PNG: {e}"))
}

/// Charts drawn as series along x; the others are drawn as bars.
fn is_line_kind(kind: &str) -> bool {
    matches!(kind, "timechart" | "linechart" | "areachart" | "scatterchart")
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.3}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn result() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![Field::new("Port", DataType::Utf8, false), Field::new("Events", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["443", "4444"])), Arc::new(Int64Array::from(vec![30, 10]))],
        )
        .expect("batch");
        (schema, vec![batch])
    }

    fn render(kind: &str) -> Render {
        Render { kind: kind.into(), title: Some("Ports".into()), xcolumn: None, ycolumns: vec![] }
    }

    #[test]
    fn bars_are_scaled_to_the_largest_value() {
        let (schema, batches) = result();
        let chart = Chart::of(&render("barchart"), &schema, &batches).expect("a chart");
        assert_eq!(chart.to_text(30), format!("Ports\n 443 │{} 30\n4444 │{} 10\n", "█".repeat(10), "█".repeat(3)));
    }

    #[test]
    fn pie_slices_are_shares_of_the_total() {
        let (schema, batches) = result();
        let chart = Chart::of(&render("piechart"), &schema, &batches).expect("a chart");
        assert_eq!(chart.to_text(30), format!("Ports\n 443 │{} 75.0%\n4444 │{} 25.0%\n", "█".repeat(8), "█".repeat(3)));
    }

    #[test]
    fn svg_has_one_bar_per_value_and_a_title() {
        let (schema, batches) = result();
        let svg = Chart::of(&render("columnchart"), &schema, &batches).expect("a chart").to_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(">Ports</text>"));
        assert_eq!(svg.matches("fill=\"#1f77b4\"/>").count(), 3, "two bars and the legend swatch");
    }

    #[test]
    fn a_string_column_splits_a_timechart_into_series() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Hour", DataType::Int64, false),
            Field::new("Dst", DataType::Utf8, false),
            Field::new("Events", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![2, 1, 1])),
                Arc::new(StringArray::from(vec!["a", "a", "b"])),
                Arc::new(Int64Array::from(vec![5, 4, 9])),
            ],
        )
        .expect("batch");
        let chart = Chart::of(&render("timechart"), &schema, &[batch]).expect("a chart");
        assert_eq!(chart.labels, ["1", "2"], "x runs in order");
        assert_eq!(chart.series.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(chart.series["a"], [4.0, 5.0]);
        assert!(chart.series["b"][1].is_nan(), "b has no value at x = 2");
        let text = chart.to_text(40);
        assert!(text.starts_with("Ports\n         9 │"), "{text}");
        assert!(text.ends_with("\n            * a\n            + b\n"), "{text}");
    }

    #[test]
    fn a_table_kind_is_not_drawn() {
        let (schema, batches) = result();
        assert!(Chart::of(&render("table"), &schema, &batches).is_none());
    }
}
