//! Keras HDF5 files: writer and reader, both entirely in memory.
//!
//! The writer follows `shared/docs/KERAS_H5.md`: `model_config` as a variable-length UTF-8
//! attribute, `keras_version` 2.x on the root and on `/model_weights`, `layer_names` in the
//! order the loaders rebuild `model.layers` (they match weights by that order, not by name),
//! and one group per layer holding `<layer>/<weight>:0` float32 datasets.
//!
//! The reader mirrors the loaders: it rebuilds the layer order from the config and hands the
//! k-th weighted group of the file to the k-th weighted layer, so a file whose groups are in
//! the wrong order reads back (and then runs) exactly as wrong as Keras would load it. It
//! treats the file as untrusted: bad shapes, missing groups and oversized datasets are errors.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hdf5::types::{TypeDescriptor, VarLenUnicode};
use hdf5::{File, Group, Location};
use ndarray::ArrayD;

use crate::raw::{RawGroup, RawKerasFile};
use crate::spec::LayerSpec;
use crate::{config, KerasError, KerasModel, Weight};

/// The Keras version written into files: a 2.x string, which tf-keras, Keras 3 and
/// tensorflowjs all accept (a missing version makes tf-keras treat the file as Keras 1).
pub const KERAS_VERSION: &str = "2.21.0";

/// The first bytes of every HDF5 file.
pub const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Serialises `model` to the bytes of a complete `.h5` file.
pub fn write_to_bytes(model: &KerasModel) -> Result<Vec<u8>, KerasError> {
    let (file, weights_group, order) = begin_file(model)?;
    for &i in &order {
        write_layer(&weights_group, &model.layers[i])?;
    }
    file_image(&file)
}

/// [`write_to_bytes`] that frees each layer's weights as soon as the file image holds them,
/// so the weights never exist twice (the model keeps its layers, without weights).
pub fn write_releasing_weights(model: &mut KerasModel) -> Result<Vec<u8>, KerasError> {
    let (file, weights_group, order) = begin_file(model)?;
    for &i in &order {
        write_layer(&weights_group, &model.layers[i])?;
        model.layers[i].weights = Vec::new();
    }
    file_image(&file)
}

/// Checks `model`, creates the in-memory file with its config and layer list; returns the
/// file, its `/model_weights` group and the order in which the layers' groups are written.
fn begin_file(model: &KerasModel) -> Result<(File, Group, Vec<usize>), KerasError> {
    model.validate()?;
    for layer in &model.layers {
        LayerSpec::parse(layer)?.check_weights(layer, None)?;
    }
    let file = in_memory_file(None)?;
    write_str_attr(&file, "model_config", &config::to_json(model))?;
    write_str_attr(&file, "keras_version", KERAS_VERSION)?;
    write_str_attr(&file, "backend", "tensorflow")?;

    let weights_group = file.create_group("model_weights").map_err(h5_err("/model_weights"))?;
    let order = model.keras_layer_order();
    let layer_names: Vec<&str> = order.iter().map(|&i| model.layers[i].name.as_str()).collect();
    write_str_array_attr(&weights_group, "layer_names", &layer_names)?;
    write_str_attr(&weights_group, "keras_version", KERAS_VERSION)?;
    write_str_attr(&weights_group, "backend", "tensorflow")?;
    Ok((file, weights_group, order))
}

/// Writes one layer's group: its `weight_names` and its datasets.
fn write_layer(weights_group: &Group, layer: &crate::Layer) -> Result<(), KerasError> {
    let path = format!("/model_weights/{}", layer.name);
    let group = weights_group.create_group(&layer.name).map_err(h5_err(&path))?;
    let weight_names: Vec<String> = layer.weights.iter().map(|w| format!("{}/{}:0", layer.name, w.name)).collect();
    let weight_name_refs: Vec<&str> = weight_names.iter().map(String::as_str).collect();
    write_str_array_attr(&group, "weight_names", &weight_name_refs)?;
    if layer.weights.is_empty() {
        return Ok(());
    }
    let inner = group.create_group(&layer.name).map_err(h5_err(&path))?;
    for weight in &layer.weights {
        let dataset_path = format!("{path}/{}/{}:0", layer.name, weight.name);
        let contiguous = weight.value.as_standard_layout();
        // A nested name (`forward_rnn/kernel`, a Bidirectional's) lives in a subgroup.
        let (parent, leaf) = match weight.name.rsplit_once('/') {
            Some((dirs, leaf)) => (subgroup(&inner, dirs).map_err(h5_err(&dataset_path))?, leaf),
            None => (inner.clone(), weight.name.as_str()),
        };
        parent
            .new_dataset_builder()
            .with_data(&contiguous)
            .create(format!("{leaf}:0").as_str())
            .map_err(h5_err(&dataset_path))?;
    }
    Ok(())
}

/// The group at `path` below `group`, created (with its parents) if missing.
fn subgroup(group: &Group, path: &str) -> hdf5::Result<Group> {
    path.split('/').try_fold(group.clone(), |parent, name| match parent.group(name) {
        Ok(existing) => Ok(existing),
        Err(_) => parent.create_group(name),
    })
}

/// Reads a Keras `.h5` file from disk (see [`read_from_bytes`]).
pub fn read_file(path: &Path) -> Result<KerasModel, KerasError> {
    let bytes =
        std::fs::read(path).map_err(|e| KerasError::Invalid(format!("cannot read '{}': {e}", path.display())))?;
    read_from_bytes(&bytes)
}

/// Parses the bytes of a Keras `.h5` file: architecture from `model_config`, weights
/// assigned to layers by order, as tf-keras and Keras 3 do.
pub fn read_from_bytes(bytes: &[u8]) -> Result<KerasModel, KerasError> {
    let raw = read_raw_from_bytes(bytes)?;
    let mut model = config::from_json(&raw.model_config)?;
    // The file's weighted groups, in the file's order.
    let weighted_groups: Vec<RawGroup> = raw.groups.into_iter().filter(|g| !g.weights.is_empty()).collect();
    // The model's weighted layers, in the order Keras rebuilds them.
    let mut weighted_layers = Vec::new();
    for index in model.keras_layer_order() {
        let spec = LayerSpec::parse(&model.layers[index])?;
        let expected: Vec<&str> = spec.weights(None).iter().map(|w| w.name).collect();
        if !expected.is_empty() {
            weighted_layers.push((index, spec, expected));
        }
    }
    if weighted_groups.len() != weighted_layers.len() {
        return Err(KerasError::Invalid(format!(
            "the file holds weights for {} layers, but the model has {} layers with weights",
            weighted_groups.len(),
            weighted_layers.len()
        )));
    }
    for (group, (index, spec, expected)) in weighted_groups.into_iter().zip(weighted_layers) {
        let layer = &mut model.layers[index];
        if group.weights.len() != expected.len() {
            return Err(KerasError::Invalid(format!(
                "layer '{}' expects {} weights, but group '{}' holds {}",
                layer.name,
                expected.len(),
                group.name,
                group.weights.len()
            )));
        }
        layer.weights = group.weights.into_iter().zip(expected).map(|(w, short)| Weight::new(short, w.value)).collect();
        spec.check_weights(layer, None)?;
    }
    Ok(model)
}

/// Reads a Keras `.h5` file as stored (see [`crate::raw`]): the config text is not parsed,
/// so files of older Keras versions, Sequential models and unknown classes read too. The
/// same checks as [`read_from_bytes`] bound every read by the file's size.
pub fn read_raw_from_bytes(bytes: &[u8]) -> Result<RawKerasFile, KerasError> {
    if !bytes.starts_with(HDF5_SIGNATURE) {
        return Err(KerasError::Invalid("not an HDF5 file (bad signature)".into()));
    }
    let budget = bytes.len();
    let file = in_memory_file(Some(bytes))?;
    let root: &Location = &file;
    let model_config = read_str_attr(root, "model_config", "/", budget)?
        .ok_or_else(|| KerasError::Invalid("no 'model_config' attribute: a weights-only file, not a model".into()))?;
    let keras_version = read_str_attr(root, "keras_version", "/", budget)?;
    // Files saved with `model.save` hold the weights under /model_weights; `save_weights`-style
    // layouts keep them at the root, but those have no model_config.
    let weights_group = file.group("model_weights").map_err(h5_err("/model_weights"))?;
    let mut groups = Vec::new();
    for name in read_str_list_attr(&weights_group, "layer_names", "/model_weights", budget)? {
        let path = format!("/model_weights/{name}");
        let group = weights_group.group(&name).map_err(h5_err(&path))?;
        let mut weights = Vec::new();
        for weight_name in read_str_list_attr(&group, "weight_names", &path, budget)? {
            let weight_path = format!("{path}/{weight_name}");
            weights.push(Weight::new(&weight_name, read_f32_dataset(&group, &weight_name, &weight_path, budget)?));
        }
        groups.push(RawGroup { name, weights });
    }
    Ok(RawKerasFile { model_config, keras_version, groups })
}

fn h5_err(path: &str) -> impl Fn(hdf5::Error) -> KerasError + '_ {
    move |e| KerasError::Hdf5 { path: path.to_string(), message: e.to_string() }
}

/// Opens (`image` given) or creates an HDF5 file that lives only in memory (core driver,
/// no backing store).
fn in_memory_file(image: Option<&[u8]>) -> Result<File, KerasError> {
    // The core driver still keys open files by name: give each one a unique name.
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!("tf2h5-in-memory-{}-{}.h5", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    // The earliest file format objects allow (HDF5 2 defaults to 1.8's): the most readers
    // read it, and its version-1 object headers hold no modification times, so the bytes
    // depend only on the model.
    let fapl = hdf5::file::FileAccess::build()
        .core_options(1 << 20, false)
        .libver_earliest()
        .finish()
        .map_err(h5_err("(file access)"))?;
    if let Some(image) = image {
        // By default H5Pset_file_image copies the image into the property list, and opening
        // copies it again into the driver; these callbacks make both use `image` in place.
        let mut callbacks = borrowed_image::callbacks(image);
        let status = hdf5::sync::sync(|| unsafe {
            if hdf5_sys::h5p::H5Pset_file_image_callbacks(fapl.id(), &mut callbacks) < 0 {
                return -1;
            }
            hdf5_sys::h5p::H5Pset_file_image(fapl.id(), image.as_ptr() as *mut _, image.len())
        });
        if status < 0 {
            return Err(KerasError::Hdf5 { path: "/".into(), message: "cannot load the file image".into() });
        }
        // Open with this exact property list: hdf5's FileBuilder would rebuild it and drop the image.
        let c_name = CString::new(name).map_err(|_| KerasError::Invalid("bad in-memory file name".into()))?;
        let id = hdf5::sync::sync(|| unsafe {
            hdf5_sys::h5f::H5Fopen(c_name.as_ptr(), hdf5_sys::h5f::H5F_ACC_RDONLY, fapl.id())
        });
        if id < 0 {
            return Err(KerasError::Hdf5 { path: "/".into(), message: "not a readable HDF5 file".into() });
        }
        // SAFETY: `id` is a freshly opened, valid file id whose ownership moves to `File`.
        unsafe { hdf5::from_id::<File>(id) }.map_err(h5_err("/"))
    } else {
        File::with_options().set_fapl(&fapl).map_err(h5_err("/"))?.create(&name).map_err(h5_err("/"))
    }
}

/// File-image callbacks that let HDF5 read a caller's buffer without copying it, as
/// `H5LTopen_file_image` does with `H5LT_FILE_IMAGE_DONT_COPY | DONT_RELEASE`: every
/// allocation of the image returns the buffer itself, copies onto itself do nothing, frees
/// do nothing, and growing fails (the file is opened read-only). The buffer must outlive
/// the file, which `read_from_bytes` guarantees by closing the file before returning.
mod borrowed_image {
    use std::ffi::c_void;

    use hdf5_sys::h5::herr_t;
    use hdf5_sys::h5fd::{H5FD_file_image_callbacks_t, H5FD_file_image_op_t};

    pub(super) fn callbacks(image: &[u8]) -> H5FD_file_image_callbacks_t {
        H5FD_file_image_callbacks_t {
            image_malloc: Some(image_malloc),
            image_memcpy: Some(image_memcpy),
            image_realloc: Some(image_realloc),
            image_free: Some(image_free),
            udata_copy: Some(udata_copy),
            udata_free: Some(udata_free),
            // The buffer's address, carried as the callbacks' user data (never written through).
            udata: image.as_ptr() as *mut c_void,
        }
    }

    extern "C" fn image_malloc(_size: usize, _op: H5FD_file_image_op_t, udata: *mut c_void) -> *mut c_void {
        udata
    }

    extern "C" fn image_memcpy(
        dest: *mut c_void,
        src: *const c_void,
        _size: usize,
        _op: H5FD_file_image_op_t,
        _udata: *mut c_void,
    ) -> *mut c_void {
        // Every "copy" is from the buffer onto itself; anything else is refused.
        if std::ptr::eq(dest, src) {
            dest
        } else {
            std::ptr::null_mut()
        }
    }

    extern "C" fn image_realloc(
        _ptr: *mut c_void,
        _size: usize,
        _op: H5FD_file_image_op_t,
        _udata: *mut c_void,
    ) -> *mut c_void {
        std::ptr::null_mut()
    }

    extern "C" fn image_free(_ptr: *mut c_void, _op: H5FD_file_image_op_t, _udata: *mut c_void) -> herr_t {
        0
    }

    unsafe extern "C" fn udata_copy(udata: *mut c_void) -> *mut c_void {
        udata
    }

    unsafe extern "C" fn udata_free(_udata: *mut c_void) -> herr_t {
        0
    }
}

/// The bytes of an open in-memory file, flushed first.
fn file_image(file: &File) -> Result<Vec<u8>, KerasError> {
    file.flush().map_err(h5_err("/"))?;
    hdf5::sync::sync(|| {
        let size = unsafe { hdf5_sys::h5f::H5Fget_file_image(file.id(), std::ptr::null_mut(), 0) };
        if size <= 0 {
            return Err(KerasError::Hdf5 { path: "/".into(), message: "cannot get the file image size".into() });
        }
        let mut buffer = vec![0u8; size as usize];
        let written = unsafe { hdf5_sys::h5f::H5Fget_file_image(file.id(), buffer.as_mut_ptr().cast(), buffer.len()) };
        if written != size {
            return Err(KerasError::Hdf5 { path: "/".into(), message: "cannot copy the file image".into() });
        }
        Ok(buffer)
    })
}

fn write_str_attr(location: &Location, name: &str, value: &str) -> Result<(), KerasError> {
    let value: VarLenUnicode =
        value.parse().map_err(|_| KerasError::Invalid(format!("attribute '{name}' holds a NUL character")))?;
    location.new_attr::<VarLenUnicode>().create(name).and_then(|attr| attr.write_scalar(&value)).map_err(h5_err(name))
}

/// A list of names as a variable-length string array: stored on the heap, so it has no 64 KB
/// object-header limit (both loaders read it like the fixed-length arrays Keras writes).
fn write_str_array_attr(location: &Location, name: &str, values: &[&str]) -> Result<(), KerasError> {
    let values = values
        .iter()
        .map(|v| v.parse::<VarLenUnicode>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| KerasError::Invalid(format!("attribute '{name}' holds a NUL character")))?;
    location
        .new_attr::<VarLenUnicode>()
        .shape(values.len())
        .create(name)
        .and_then(|attr| attr.write(&values))
        .map_err(h5_err(name))
}

/// Whether `location` has the attribute `name`, asked with `H5Aexists`. Not through the
/// bindings' `attr_names()`: their attribute iteration stores the file's character-set byte
/// in a Rust enum, and a corrupt byte there is undefined behaviour (the mutation suite saw a
/// "capacity overflow" panic come out of it).
fn has_attr(location: &Location, name: &str, path: &str) -> Result<bool, KerasError> {
    let c_name = CString::new(name).map_err(|_| KerasError::Invalid(format!("attribute name '{name}' holds a NUL")))?;
    // SAFETY: a valid object id and a NUL-terminated name, under the library lock.
    let exists = hdf5::sync::sync(|| unsafe { hdf5_sys::h5a::H5Aexists(location.id(), c_name.as_ptr()) });
    if exists < 0 {
        return Err(KerasError::Hdf5 {
            path: format!("{path}@{name}"),
            message: "cannot look up the attribute".into(),
        });
    }
    Ok(exists > 0)
}

/// Reads a scalar string attribute, variable- or fixed-length.
fn read_str_attr(location: &Location, name: &str, path: &str, budget: usize) -> Result<Option<String>, KerasError> {
    if !has_attr(location, name, path)? {
        return Ok(None);
    }
    let mut values = read_strings(location, name, path, budget)?;
    match values.len() {
        1 => Ok(values.pop()),
        n => Err(KerasError::Invalid(format!("attribute '{path}@{name}' holds {n} strings, expected one"))),
    }
}

/// Reads a list-of-strings attribute, rejoining Keras's chunked form (`name0`, `name1`, ...)
/// used for lists over the 64 KB header limit. A missing attribute is an empty list.
fn read_str_list_attr(location: &Location, name: &str, path: &str, budget: usize) -> Result<Vec<String>, KerasError> {
    if has_attr(location, name, path)? {
        return read_strings(location, name, path, budget);
    }
    let mut all = Vec::new();
    let mut chunk = 0;
    while has_attr(location, &format!("{name}{chunk}"), path)? {
        all.extend(read_strings(location, &format!("{name}{chunk}"), path, budget)?);
        chunk += 1;
    }
    Ok(all)
}

/// Every string of a string attribute (scalar or 1-D), whatever its string type.
/// An empty numeric array (what h5py writes for an empty list) is an empty list.
/// The attribute's element count is checked against the file size (`budget`) first: the
/// read allocates per element, and a corrupt dataspace can claim billions of them.
fn read_strings(location: &Location, name: &str, path: &str, budget: usize) -> Result<Vec<String>, KerasError> {
    let where_ = format!("{path}@{name}");
    let attr = location.attr(name).map_err(h5_err(&where_))?;
    if attr.ndim() > 1 {
        return Err(KerasError::Invalid(format!("attribute '{where_}' has rank {}", attr.ndim())));
    }
    let descriptor = attr.dtype().and_then(|t| t.to_descriptor()).map_err(h5_err(&where_))?;
    // Each element takes at least this many bytes of the file: a variable-length string's heap
    // reference is 16 bytes, a fixed-length string its width.
    let element_bytes = match descriptor {
        TypeDescriptor::FixedAscii(width) | TypeDescriptor::FixedUnicode(width) => width.max(1),
        _ => 16,
    };
    if attr.size().saturating_mul(element_bytes) > budget {
        return Err(KerasError::Invalid(format!(
            "attribute '{where_}' claims {} strings, more than the file's {budget} bytes can hold",
            attr.size()
        )));
    }
    match descriptor {
        TypeDescriptor::VarLenUnicode => Ok(attr
            .read_raw::<VarLenUnicode>()
            .map_err(h5_err(&where_))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()),
        TypeDescriptor::VarLenAscii => Ok(attr
            .read_raw::<hdf5::types::VarLenAscii>()
            .map_err(h5_err(&where_))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()),
        TypeDescriptor::FixedAscii(width) | TypeDescriptor::FixedUnicode(width) => {
            read_fixed_strings(&attr, width, &where_)
        }
        _ if attr.size() == 0 => Ok(Vec::new()),
        other => Err(KerasError::Invalid(format!("attribute '{where_}' has type {other:?}, expected strings"))),
    }
}

/// Fixed-length strings, read with the attribute's own file type into one byte buffer.
fn read_fixed_strings(attr: &hdf5::Attribute, width: usize, where_: &str) -> Result<Vec<String>, KerasError> {
    let count = attr.size();
    let total = count.checked_mul(width).filter(|&t| t <= 1 << 30).ok_or_else(|| {
        KerasError::Invalid(format!("attribute '{where_}' is too large ({count} strings of {width} bytes)"))
    })?;
    let mut buffer = vec![0u8; total];
    let status = hdf5::sync::sync(|| unsafe {
        let file_type = hdf5_sys::h5a::H5Aget_type(attr.id());
        if file_type < 0 {
            return -1;
        }
        let status = hdf5_sys::h5a::H5Aread(attr.id(), file_type, buffer.as_mut_ptr().cast());
        hdf5_sys::h5t::H5Tclose(file_type);
        status
    });
    if status < 0 {
        return Err(KerasError::Hdf5 { path: where_.to_string(), message: "cannot read fixed-length strings".into() });
    }
    Ok(buffer
        .chunks(width.max(1))
        .map(|raw| {
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        })
        .collect())
}

/// A float dataset as f32, refusing datasets larger than the file could hold.
fn read_f32_dataset(group: &Group, name: &str, path: &str, byte_budget: usize) -> Result<ArrayD<f32>, KerasError> {
    // Weight names contain '/', e.g. "conv/kernel:0": a path relative to the layer's group.
    let c_name_ok = CString::new(name).is_ok();
    if !c_name_ok || !group.link_exists(name) {
        return Err(KerasError::Invalid(format!("weight '{path}' is missing")));
    }
    let dataset = group.dataset(name).map_err(h5_err(path))?;
    let descriptor = dataset.dtype().and_then(|t| t.to_descriptor()).map_err(h5_err(path))?;
    if !matches!(descriptor, TypeDescriptor::Float(_)) {
        return Err(KerasError::Invalid(format!("weight '{path}' has type {descriptor:?}, expected float")));
    }
    let elements = dataset.shape().iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match elements {
        Some(n) if n.saturating_mul(4) <= byte_budget => {}
        _ => {
            return Err(KerasError::Invalid(format!(
                "weight '{path}' claims shape {:?}, larger than the file itself",
                dataset.shape()
            )))
        }
    }
    dataset.read_dyn::<f32>().map_err(h5_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers;
    use crate::spec::{Conv, ConvVariant, GlobalPool, LayerSpec, Padding, PoolKind, Window};
    use ndarray::{ArrayD, IxDyn};

    fn ramp(shape: &[usize], offset: f32) -> ArrayD<f32> {
        ArrayD::from_shape_fn(IxDyn(shape), |ix| offset + ndarray::Dimension::slice(&ix).iter().sum::<usize>() as f32)
    }

    /// Two equal-shaped conv branches: swapping their weights would still "fit".
    fn branchy_model() -> KerasModel {
        let conv = Conv::new(Window::new(vec![3, 3], Padding::Same), ConvVariant::Standard { filters: 4, groups: 1 });
        let mut relu = conv.clone();
        relu.activation = "relu".into();
        let gap = LayerSpec::GlobalPool(GlobalPool { kind: PoolKind::Average, rank: 2, keepdims: false });
        KerasModel {
            name: "branchy".into(),
            layers: vec![
                layers::input_layer("x", &[None, Some(5), Some(5), Some(2)]),
                relu.layer("left", "x".into(), vec![ramp(&[3, 3, 2, 4], 1.0)], Some(ramp(&[4], 0.5))),
                conv.layer("right", "x".into(), vec![ramp(&[3, 3, 2, 4], -7.0)], None),
                layers::concatenate("cat", vec!["right".into(), "left".into()], -1),
                gap.layer("gap", vec!["cat".into()], vec![]),
                layers::dense("head", "gap".into(), ramp(&[8, 3], 0.25), Some(ramp(&[3], 2.0)), "softmax"),
            ],
            inputs: vec!["x".into()],
            outputs: vec!["head".into()],
        }
    }

    #[test]
    fn round_trip_preserves_model_and_weights() {
        let model = branchy_model();
        let bytes = write_to_bytes(&model).unwrap();
        assert!(bytes.starts_with(b"\x89HDF"));
        assert_eq!(read_from_bytes(&bytes).unwrap(), model);
    }

    #[test]
    fn releasing_writer_writes_the_same_bytes_and_frees_the_weights() {
        let model = branchy_model();
        let mut released = model.clone();
        let bytes = write_releasing_weights(&mut released).unwrap();
        assert_eq!(bytes, write_to_bytes(&model).unwrap());
        assert!(released.layers.iter().all(|l| l.weights.is_empty()));
        assert_eq!(released.layers.len(), model.layers.len());
        // Read back in place, the image gives the original weights.
        assert_eq!(read_from_bytes(&bytes).unwrap(), model);
    }

    #[test]
    fn layer_names_follow_keras_order() {
        let model = branchy_model();
        let bytes = write_to_bytes(&model).unwrap();
        let file = in_memory_file(Some(&bytes)).unwrap();
        let names =
            read_str_list_attr(&file.group("model_weights").unwrap(), "layer_names", "/model_weights", bytes.len())
                .unwrap();
        // The DFS from the output visits `right` before `left` (concat's argument order).
        assert_eq!(names, ["x", "right", "left", "cat", "gap", "head"]);
        let version = read_str_attr(&file, "keras_version", "/", bytes.len()).unwrap();
        assert_eq!(version.as_deref(), Some(KERAS_VERSION));
    }

    #[test]
    fn writer_rejects_weights_keras_would_not_expect() {
        let mut model = branchy_model();
        model.layers[2].weights.push(Weight::new("bias", ramp(&[4], 0.0)));
        model.layers[2].weights.swap(0, 1);
        assert!(write_to_bytes(&model).unwrap_err().to_string().contains("Keras expects"));
    }

    #[test]
    fn reader_rejects_garbage_and_truncation() {
        assert!(read_from_bytes(b"").is_err());
        assert!(read_from_bytes(b"definitely not hdf5").is_err());
        let bytes = write_to_bytes(&branchy_model()).unwrap();
        for cut in [8, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(read_from_bytes(&bytes[..cut]).is_err(), "truncated at {cut} must fail");
        }
    }

    #[test]
    fn string_attributes_are_bounded_by_the_file_size() {
        // A corrupt dataspace can claim billions of strings; the read allocates per string, so
        // the count is checked against the bytes present first.
        let bytes = write_to_bytes(&branchy_model()).unwrap();
        let file = in_memory_file(Some(&bytes)).unwrap();
        let group = file.group("model_weights").unwrap();
        assert_eq!(read_str_list_attr(&group, "layer_names", "/model_weights", bytes.len()).unwrap().len(), 6);
        let err = read_str_list_attr(&group, "layer_names", "/model_weights", 6 * 16 - 1).unwrap_err().to_string();
        assert!(err.contains("claims 6 strings"), "{err}");
    }

    #[test]
    fn corrupt_character_set_bytes_are_harmless() {
        // Regression (mutation suite): the attribute message's encoding byte reached a Rust
        // enum through the bindings' `attr_names()`; 17 there ended in a panic, 255 in an HDF5
        // abort. Attributes are now looked up with H5Aexists, which never decodes that byte.
        let model = branchy_model();
        let bytes = write_to_bytes(&model).unwrap();
        let name = bytes.windows(13).position(|w| w == b"model_config\0").expect("the model_config attribute");
        assert_eq!(bytes[name - 9], 3, "a version-3 attribute message: version, flags, sizes, encoding, name");
        for encoding in [2u8, 17, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[name - 1] = encoding;
            assert_eq!(read_from_bytes(&corrupt).unwrap(), model);
        }
    }

    #[test]
    fn large_layer_lists_exceed_header_limit() {
        // 3000 layers with long names: > 64 KB of layer_names, which a fixed-length attribute
        // could not hold in the object header.
        let mut layers = vec![layers::input_layer("x", &[None, Some(1)])];
        let mut previous = "x".to_string();
        for i in 0..3000 {
            let name = format!("a_rather_long_activation_layer_name_number_{i:05}");
            layers.push(layers::activation(&name, previous.clone().into(), "linear"));
            previous = name;
        }
        let model =
            KerasModel { name: "deep".into(), layers, inputs: vec!["x".into()], outputs: vec![previous.into()] };
        let bytes = write_to_bytes(&model).unwrap();
        assert_eq!(read_from_bytes(&bytes).unwrap(), model);
    }
}
