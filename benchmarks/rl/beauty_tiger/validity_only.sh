#!/bin/bash
cd /work/bench/wt && source .venv/bin/activate
out=/work/bench/rl_tiger/results
BEST=$(python -c "import json; c = json.load(open('/work/bench/rl_tiger/beauty/train_summary.json'))['validation']; print(max(c, key=lambda p: p['ndcg@10'])['step'])")
python -m benchmarks.rl.validity --dataset=amazon-2014-beauty --data_dir=/work/bench/beauty/tfds \
  --raw_data_dir=/work/shared/data --max_users=1000 --temperatures=1.0,0.5,0.2 \
  --checkpoint=supervised=/work/bench/beauty/genrec-tiger/checkpoints@776 \
  --checkpoint=rl_ndcg_constrained=/work/bench/rl_tiger/beauty/checkpoints@$BEST \
  --checkpoint=rl_ndcg_valid_free=/work/bench/rl_tiger/beauty_valid/checkpoints@100 \
  --out=$out/validity.json > $out/validity.out 2>&1
uptime > $out/uptime_after.txt
