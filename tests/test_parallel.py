import torch

from attnmem_core.parallel import run_parallel


def test_results_keep_the_runs_order_whatever_the_submission_order():
    runs = ["11", "7", "100", "5"]
    assert run_parallel(int, runs, workers=2, context={"base": 8}, cost=len) == [9, 7, 64, 5]


def test_one_worker_runs_in_process_single_threaded_and_restores_threads():
    threads = torch.get_num_threads()
    assert run_parallel(lambda run: (run, torch.get_num_threads()), [1, 2], workers=1) == [(1, 1), (2, 1)]
    assert torch.get_num_threads() == threads
