//! Freezes a model (frozen `.pb` or SavedModel) and prints its signature, inputs, outputs
//! and op histogram; with a second argument, writes the frozen GraphDef there.
//!
//! ```sh
//! cargo run --release -p tf2h5-tf --example freeze -- test-models/sm_tf_module_cnn [frozen.pb] [--signature NAME] [--nodes]
//! ```

use std::path::PathBuf;

use prost::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut model = None;
    let mut out = None;
    let mut options = tf2h5_tf::LoadOptions::default();
    let mut list_nodes = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--signature" => options.signature = args.next(),
            "--nodes" => list_nodes = true,
            _ if model.is_none() => model = Some(PathBuf::from(arg)),
            _ => out = Some(PathBuf::from(arg)),
        }
    }
    let Some(model) = model else {
        eprintln!("usage: freeze MODEL [OUT.pb] [--signature NAME] [--nodes]");
        std::process::exit(2);
    };
    match tf2h5_tf::signatures(&model) {
        Ok(signatures) => {
            for s in signatures {
                let io = |t: &[tf2h5_tf::SignatureTensor]| {
                    t.iter().map(|t| format!("{} ({}) {:?}", t.key, t.tensor, t.shape)).collect::<Vec<_>>().join(", ")
                };
                println!("signature {}: [{}] -> [{}]", s.name, io(&s.inputs), io(&s.outputs));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    let graph = match tf2h5_tf::load_with(&model, &options) {
        Ok(graph) => graph,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("{} nodes; inputs {:?}; outputs {:?}", graph.nodes().len(), graph.input_names(), graph.output_names());
    for (op, count) in graph.op_histogram() {
        println!("  {count:>5} {op}");
    }
    if list_nodes {
        for node in graph.nodes() {
            println!("  {} = {}({})", node.name, node.op, node.input.join(", "));
        }
    }
    if let Some(out) = out {
        std::fs::write(&out, graph.graph.encode_to_vec()).expect("write the frozen graph");
        println!("wrote {}", out.display());
    }
}
