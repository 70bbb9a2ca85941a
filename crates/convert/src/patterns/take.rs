//! Keras 3's `Embedding` on the TensorFlow backend (`ops.take`) wraps negative ids before its
//! gather: `SelectV2(Less(ids, 0), AddV2(ids, rows), ids)` ([`tf2h5_tf::ids::wrapped_ids`]).
//! The valid ids of a table are `0..rows` (what verification draws, and what tf-keras's
//! `Embedding` reads), and for them it is `ids` itself: the match passes the ids on, and the
//! gather after it becomes the `Embedding`. (Negative ids, which Keras 3 wraps, are outside.)

use tf2h5_tf::pb::NodeDef;

use super::{names, Kind, Match, View};

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    let ids = tf2h5_tf::ids::wrapped_ids(view.graph, node)?;
    let inner: Vec<&NodeDef> =
        view.graph.data_inputs(node).take(2).map(|t| view.graph.node(&t.node)).collect::<Option<_>>()?;
    view.closed(&inner, node).then(|| Match { inner: names(&inner), kind: Kind::PassThrough { input: ids } })
}
