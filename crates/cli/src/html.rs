//! Self-contained HTML reports: `<model>.html` for `verify` and `zoo.html` for a zoo run.
//!
//! One file each, opened from disk: the styles are inline, the per-layer error plot is inline
//! SVG, and nothing is fetched (no scripts, fonts, images or links to other hosts). Both pages
//! are rendered from the verify report's JSON, so `zoo.html` (written by `zoo` and by
//! `zoo-merge` from the per-model `.json` files) shows each model as its own page does.

use std::fmt::Write as _;

use serde_json::Value;

/// Escapes text for HTML (and XML) content and attributes; control characters, which XML 1.0
/// forbids, become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
.pass{color:#180;font-weight:600}.fail{color:#c11;font-weight:600}\
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}svg{max-width:100%;height:auto}\
code{background:#f6f6f6;padding:0 3px}";

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A table: header cells, then rows of cells already rendered as HTML (numbers right-aligned).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table>\n<tr>");
    for cell in header {
        let _ = write!(html, "<th>{}</th>", escape(cell));
    }
    html.push_str("</tr>\n");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let numeric = !cell.is_empty() && cell.chars().all(|c| c.is_ascii_digit() || ".e-+".contains(c));
            let _ = write!(html, "{}{cell}</td>", if numeric { "<td class=\"num\">" } else { "<td>" });
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// `pass` / `FAIL`, coloured.
pub fn verdict(passed: bool) -> String {
    if passed {
        "<span class=\"pass\">pass</span>".into()
    } else {
        "<span class=\"fail\">FAIL</span>".into()
    }
}

/// A number in scientific notation, or `-`.
pub fn sci(value: &Value) -> String {
    value.as_f64().map(|v| format!("{v:.3e}")).unwrap_or_else(|| "-".into())
}

fn fixed(value: &Value, digits: usize) -> String {
    value.as_f64().map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "-".into())
}

/// One verify report (`tf2h5 verify --json`): summary, per-output errors, the per-layer error
/// plot (`layer_plot`, the SVG of the report) and comparison, stage times and memory.
pub fn verify_section(report: &Value, layer_plot: Option<&str>) -> String {
    let mut html = String::new();
    let passed = report["passed"].as_bool() == Some(true);
    let mut facts = vec![
        format!("result: {}", if passed { verdict(true) } else { "<span class=\"fail\">MISMATCH</span>".into() }),
        format!("source: <code>{}</code>", escape(report["source"].as_str().unwrap_or("?"))),
        format!(
            "{} {} → {} Keras layers, {} parameters, .h5 {} bytes",
            report["source_nodes"],
            escape(report["source_unit"].as_str().unwrap_or("source nodes")),
            report["layers"],
            report["parameters"],
            report["h5_bytes"]
        ),
        format!(
            "{} samples ({}); tolerance atol {}, rtol {}",
            report["samples"],
            report["seed"].as_u64().map(|s| format!("random N(0,1), seed {s}")).unwrap_or_else(|| "user inputs".into()),
            sci(&report["tolerance"]["atol"]),
            sci(&report["tolerance"]["rtol"])
        ),
        format!("peak resident memory: {} MiB", fixed(&report["peak_rss_mib"], 0)),
    ];
    if let Some(from) = report["translated_from"].as_object() {
        facts.push(format!(
            "translated from {}; .h5 layout: {}",
            escape(from["format"].as_str().unwrap_or("?")),
            escape(from["layout"].as_str().unwrap_or("?"))
        ));
    }
    html.push_str("<ul>\n");
    for fact in facts {
        let _ = writeln!(html, "<li>{fact}</li>");
    }
    html.push_str("</ul>\n<h3>Outputs</h3>\n");
    let outputs: Vec<Vec<String>> = array(&report["outputs"])
        .map(|o| {
            let c = &o["comparison"];
            let failures = format!("{} / {}", c["failures"], c["elements"]);
            let problem = c["problem"].as_str().map(|p| format!(" ({})", escape(p))).unwrap_or_default();
            vec![
                escape(o["layer"].as_str().unwrap_or("?")),
                escape(o["tf_node"].as_str().unwrap_or("?")),
                sci(&c["max_abs_err"]),
                sci(&c["max_rel_err"]),
                sci(&c["max_abs_expected"]),
                failures + &problem,
            ]
        })
        .collect();
    let header = ["output layer", "source node", "max abs err", "max rel err", "max abs value", "failures / elements"];
    html.push_str(&table(&header, &outputs));

    let comparison = &report["layer_comparison"];
    if let Some(why) = comparison["Err"].as_str() {
        let _ = writeln!(html, "<p>Per-layer comparison unavailable: {}</p>", escape(why));
    } else if let Some(layers) = comparison["Ok"].as_array() {
        html.push_str("<h3>Per-layer comparison (first sample)</h3>\n");
        if let Some(first) = report["first_divergence"].as_object() {
            let _ = writeln!(
                html,
                "<p>First diverging layer: <b>{}</b> (source node <code>{}</code>).</p>",
                escape(first["layer"].as_str().unwrap_or("?")),
                escape(first["tf_node"].as_str().unwrap_or("?"))
            );
        }
        if let Some(svg) = layer_plot {
            let _ = writeln!(html, "<figure>{svg}</figure>");
        }
        let rows: Vec<Vec<String>> = layers
            .iter()
            .map(|d| {
                let c = &d["comparison"];
                vec![
                    escape(d["layer"].as_str().unwrap_or("?")),
                    escape(d["tf_node"].as_str().unwrap_or("?")),
                    sci(&c["max_abs_err"]),
                    format!("{} / {}", c["failures"], c["elements"]),
                ]
            })
            .collect();
        let table = table(&["layer", "source node", "max abs err", "failures / elements"], &rows);
        let _ = writeln!(html, "<details><summary>{} layers</summary>\n{table}</details>", rows.len());
    }

    html.push_str("<h3>Time and memory per stage</h3>\n");
    let stages: Vec<Vec<String>> = array(&report["stages"])
        .map(|s| {
            vec![
                escape(s["stage"].as_str().unwrap_or("?")),
                fixed(&s["ms"], 1),
                fixed(&s["rss_mib"], 0),
                fixed(&s["peak_rss_mib"], 0),
            ]
        })
        .collect();
    html.push_str(&table(&["stage", "ms", "resident MiB at end", "peak MiB"], &stages));
    html
}

/// The elements of a JSON array (none for anything else).
pub fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_renders_a_report_without_remote_assets() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let report = serde_json::json!({
            "model": "m", "source": "m<1>.pb", "passed": false, "samples": 2, "seed": 0,
            "tolerance": {"atol": 1e-4, "rtol": 1e-3}, "source_nodes": 3, "source_unit": "TF nodes", "layers": 2, "parameters": 10, "h5_bytes": 100,
            "outputs": [{"layer": "dense", "tf_node": "y", "comparison": {"max_abs_err": 0.5, "max_rel_err": 0.1,
                "max_abs_expected": 2.0, "elements": 8, "failures": 3, "problem": null}}],
            "first_divergence": {"layer": "dense", "tf_node": "y"},
            "layer_comparison": {"Ok": [{"layer": "dense", "tf_node": "y", "comparison": {"max_abs_err": 0.5, "failures": 3, "elements": 8}}]},
            "stages": [{"stage": "load", "ms": 1.25, "rss_mib": 30.0, "peak_rss_mib": 31.0}],
            "peak_rss_mib": 31.0
        });
        let html = page("m", &verify_section(&report, Some("<svg></svg>")));
        assert!(html.contains("m&lt;1&gt;.pb") && html.contains("MISMATCH") && html.contains("<figure><svg></svg>"));
        assert!(html.contains("<td class=\"num\">5.000e-1</td>") && html.contains("3 / 8"));
        assert!(html.contains("First diverging layer: <b>dense</b>") && html.contains("<td class=\"num\">1.2</td>"));
        assert!(!html.contains("http") && !html.contains("src=") && !html.contains("<script"));
    }
}
