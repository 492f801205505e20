"""Train the toy problem's network with L-BFGS and save a losstopo checkpoint."""

import argparse

import torch

from losstopo.io.checkpoint import save_checkpoint
from losstopo.problems import get_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    problem = get_problem("toy")  # registered by the module in LOSSTOPO_PROBLEMS
    torch.manual_seed(args.seed)
    hparams = {"width": args.width}
    model = problem.build_model(hparams).double()
    checkpoint = {
        "problem": "toy",
        "hparams": hparams,
        "state_dict": model.state_dict(),
        "metrics": {},
        "seed": args.seed,
        "device": "cpu",
    }
    objective = problem.objective(checkpoint, torch.device("cpu"), torch.float64)
    optimizer = torch.optim.LBFGS(
        model.parameters(), max_iter=args.iterations, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective.loss_fn(dict(model.named_parameters()))
        loss.backward()
        return loss

    optimizer.step(closure)
    checkpoint["state_dict"] = model.state_dict()
    checkpoint["metrics"] = {"final_loss": float(closure().detach())}
    save_checkpoint(args.out, checkpoint)


if __name__ == "__main__":
    main()
