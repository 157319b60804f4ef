#!/bin/bash
# After the constrained RL run: the supervised checkpoint on the same 2,000 validation users, then
# supervised vs RL on the first 5,000 test users, then the free-sampling run and validity.
cd /work/bench/wt && source .venv/bin/activate
out=/work/bench/rl_tiger/results; mkdir -p $out
while pgrep -f "rl_tiger_beauty.gin --run_mode=rl" > /dev/null; do sleep 10; done
uptime > $out/uptime_before.txt
python -m genrec.main --gin_file=configs/experiments/tiger_beauty.gin --run_mode=eval \
  --workdir=$out/supervised_validation --checkpoint_dir=/work/bench/beauty/genrec-tiger/checkpoints \
  --data_dir=/work/bench/beauty/tfds --raw_data_dir=/work/shared/data \
  --gin_bindings="evaluate.split='validation'" --gin_bindings="evaluate.max_eval_examples=2000" \
  --gin_bindings="evaluate.step=776" > $out/supervised_validation.out 2>&1
python -m benchmarks.rl.compare --dataset=amazon-2014-beauty --data_dir=/work/bench/beauty/tfds \
  --raw_data_dir=/work/shared/data --row=supervised=/work/bench/beauty/genrec-tiger/checkpoints@776 \
  --row=supervised_plus_rl=/work/bench/rl_tiger/beauty/checkpoints@best --max_eval_examples=5000 \
  --out=$out/compare > $out/compare.out 2>&1
uptime > $out/uptime_after_compare.txt
/work/bench/rl_tiger/beauty_valid.sh
BEST=$(python -c "import json; c = json.load(open('/work/bench/rl_tiger/beauty/train_summary.json'))['validation']; print(max(c, key=lambda p: p['ndcg@10'])['step'])")
python -m benchmarks.rl.validity --dataset=amazon-2014-beauty --data_dir=/work/bench/beauty/tfds \
  --raw_data_dir=/work/shared/data --max_users=1000 --temperatures=1.0,0.5,0.2 \
  --checkpoint=supervised=/work/bench/beauty/genrec-tiger/checkpoints@776 \
  --checkpoint=rl_ndcg_constrained=/work/bench/rl_tiger/beauty/checkpoints@$BEST \
  --checkpoint=rl_ndcg_valid_free=/work/bench/rl_tiger/beauty_valid/checkpoints@100 \
  --out=$out/validity.json > $out/validity.out 2>&1
uptime > $out/uptime_after.txt
