//! [`Plan`] and [`Partial`] as bytes, to travel between processes (pickled by Dask and Spark).

use super::cell_table::CellTable;
use super::hstats::HStatsOptions;
use super::leaves::FailMasses;
use super::moments::Moments;
use super::pairs::LeafRecord;
use super::partitioned::{Partial, Plan};
use crate::bytes::{Reader, Writer};
use crate::error::Result;

const PLAN_MAGIC: &[u8; 8] = b"TLHPLAN1";
const PARTIAL_MAGIC: &[u8; 8] = b"TLHPART1";
/// Indices and counts inside the format stay below this (cells, leaves, features).
const BOUND: usize = u32::MAX as usize;

fn magic(r: &mut Reader, expected: &[u8; 8]) -> Result<()> {
    for &b in expected {
        if r.u8()? != b {
            return Err(r.error());
        }
    }
    Ok(())
}

fn put_table(w: &mut Writer, t: &CellTable) {
    w.len(t.key.len());
    for i in 0..t.key.len() {
        w.u8(t.key[i].0);
        w.u64(t.key[i].1);
        w.f64(t.rep[i]);
        w.f64(t.mass[i]);
    }
}

fn get_table(r: &mut Reader) -> Result<CellTable> {
    let n = r.len(25)?;
    let mut t = CellTable::default();
    for _ in 0..n {
        t.key.push((r.u8()?, r.u64()?));
        t.rep.push(r.f64()?);
        t.mass.push(r.f64()?);
    }
    Ok(t)
}

fn put_tables(w: &mut Writer, tables: &[CellTable]) {
    w.len(tables.len());
    tables.iter().for_each(|t| put_table(w, t));
}

fn get_tables(r: &mut Reader) -> Result<Vec<CellTable>> {
    let n = r.len(8)?;
    (0..n).map(|_| get_table(r)).collect()
}

fn put_vecs(w: &mut Writer, v: &[Vec<f64>]) {
    w.len(v.len());
    v.iter().for_each(|x| w.f64s(x));
}

fn get_vecs(r: &mut Reader) -> Result<Vec<Vec<f64>>> {
    let n = r.len(8)?;
    (0..n).map(|_| r.f64s()).collect()
}

fn put_moments(w: &mut Writer, m: &[Moments]) {
    w.len(m.len());
    for x in m {
        w.f64(x.weight);
        w.f64s(&x.mean);
        w.f64s(&x.m2);
    }
}

fn get_moments(r: &mut Reader) -> Result<Vec<Moments>> {
    let n = r.len(24)?;
    (0..n)
        .map(|_| {
            let m = Moments {
                weight: r.f64()?,
                mean: r.f64s()?,
                m2: r.f64s()?,
            };
            if m.mean.len() != m.m2.len() {
                return Err(r.error());
            }
            Ok(m)
        })
        .collect()
}

fn put_records(w: &mut Writer, records: &[LeafRecord]) {
    w.len(records.len());
    for rec in records {
        w.len(rec.node);
        w.f64s(&rec.value);
        w.len(rec.feats.len());
        rec.feats.iter().for_each(|&f| w.u64(f as u64));
        w.len(rec.runs.len());
        for runs in &rec.runs {
            w.len(runs.len());
            for &(a, b) in runs {
                w.u64(a as u64);
                w.u64(b as u64);
            }
        }
        let m = &rec.masses;
        w.f64(m.m0);
        w.f64s(&m.m1);
        w.len(m.m2.len());
        for &(a, b, v) in &m.m2 {
            w.u64(a as u64);
            w.u64(b as u64);
            w.f64(v);
        }
        w.len(m.m3.len());
        for &(a, b, c, v) in &m.m3 {
            w.u64(a as u64);
            w.u64(b as u64);
            w.u64(c as u64);
            w.f64(v);
        }
    }
}

fn get_records(r: &mut Reader) -> Result<Vec<LeafRecord>> {
    let n = r.len(48)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let node = r.index(usize::MAX)?;
        let value = r.f64s()?;
        let d = r.len(8)?;
        let feats = (0..d)
            .map(|_| r.index(BOUND).map(|f| f as u32))
            .collect::<Result<Vec<u32>>>()?;
        let n_runs = r.len(8)?;
        let mut runs = Vec::with_capacity(n_runs);
        for _ in 0..n_runs {
            let len = r.len(16)?;
            let list = (0..len)
                .map(|_| Ok((r.index(BOUND)? as u32, r.index(BOUND)? as u32)))
                .collect::<Result<Vec<_>>>()?;
            runs.push(list);
        }
        let m0 = r.f64()?;
        let m1 = r.f64s()?;
        let position = |r: &mut Reader| r.index(u16::MAX as usize).map(|v| v as u16);
        let n2 = r.len(24)?;
        let m2 = (0..n2)
            .map(|_| Ok((position(r)?, position(r)?, r.f64()?)))
            .collect::<Result<Vec<_>>>()?;
        let n3 = r.len(32)?;
        let m3 = (0..n3)
            .map(|_| Ok((position(r)?, position(r)?, position(r)?, r.f64()?)))
            .collect::<Result<Vec<_>>>()?;
        out.push(LeafRecord {
            node,
            value,
            feats,
            runs,
            masses: FailMasses { m0, m1, m2, m3 },
        });
    }
    Ok(out)
}

/// The plan as bytes.
pub fn encode_plan(plan: &Plan) -> Vec<u8> {
    let mut w = Writer::default();
    PLAN_MAGIC.iter().for_each(|&b| w.u8(b));
    w.usizes(&plan.options.features);
    w.len(plan.options.pairwise_m);
    w.len(plan.options.threeway_m);
    w.len(plan.stage);
    w.u64(plan.n_rows);
    w.f64(plan.w_total);
    put_tables(&mut w, &plan.tables);
    put_vecs(&mut w, &plan.pd);
    put_moments(&mut w, &plan.overall);
    w.usizes(&plan.pairwise);
    w.usizes(&plan.threeway);
    put_records(&mut w, &plan.records);
    put_moments(&mut w, &plan.pairs);
    w.0
}

/// A plan from [`encode_plan`]'s bytes (check it against the forest with [`Plan::check`]).
pub fn decode_plan(bytes: &[u8]) -> Result<Plan> {
    let mut r = Reader::new(bytes, "the H statistics plan");
    magic(&mut r, PLAN_MAGIC)?;
    let options = HStatsOptions {
        features: r.usizes(BOUND)?,
        pairwise_m: r.index(usize::MAX)?,
        threeway_m: r.index(usize::MAX)?,
    };
    let plan = Plan {
        options,
        stage: r.index(usize::MAX)?,
        n_rows: r.u64()?,
        w_total: r.f64()?,
        tables: get_tables(&mut r)?,
        pd: get_vecs(&mut r)?,
        overall: get_moments(&mut r)?,
        pairwise: r.usizes(BOUND)?,
        threeway: r.usizes(BOUND)?,
        records: get_records(&mut r)?,
        pairs: get_moments(&mut r)?,
    };
    r.finish()?;
    Ok(plan)
}

/// The partial as bytes.
pub fn encode_partial(partial: &Partial) -> Vec<u8> {
    let mut w = Writer::default();
    PARTIAL_MAGIC.iter().for_each(|&b| w.u8(b));
    match partial {
        Partial::Cells {
            n_rows,
            w_total,
            tables,
        } => {
            w.u8(0);
            w.u64(*n_rows);
            w.f64(*w_total);
            put_tables(&mut w, tables);
        }
        Partial::Tables(t) => {
            w.u8(1);
            put_vecs(&mut w, t);
        }
        Partial::Moments(m) => {
            w.u8(2);
            put_moments(&mut w, m);
        }
        Partial::Records(records) => {
            w.u8(3);
            put_records(&mut w, records);
        }
    }
    w.0
}

/// A partial from [`encode_partial`]'s bytes.
pub fn decode_partial(bytes: &[u8]) -> Result<Partial> {
    let mut r = Reader::new(bytes, "the partial H statistics");
    magic(&mut r, PARTIAL_MAGIC)?;
    let out = match r.u8()? {
        0 => Partial::Cells {
            n_rows: r.u64()?,
            w_total: r.f64()?,
            tables: get_tables(&mut r)?,
        },
        1 => Partial::Tables(get_vecs(&mut r)?),
        2 => Partial::Moments(get_moments(&mut r)?),
        3 => Partial::Records(get_records(&mut r)?),
        _ => return Err(r.error()),
    };
    r.finish()?;
    Ok(out)
}
