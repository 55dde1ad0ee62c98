"""Print the parameter counts of the PhySTD generator (by part) and the four discriminators.

    python scripts/count_parameters.py [--image_size 256] [--width 1.0] [--trace_form physstd]

Counts include BatchNorm moving statistics (non-trainable); the trainable count is printed beside.
"""
import argparse

import numpy as np


def _counts(model):
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    return model.count_params(), trainable


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--trace_form", default="physstd")
    args = parser.parse_args()

    import tensorflow as tf

    from physstd.methods.physstd.discriminator import build_discriminators
    from physstd.methods.physstd.generator import Generator
    from physstd.models import ModelConfig

    config = ModelConfig(image_size=args.image_size, width=args.width, trace_form=args.trace_form)
    image = tf.zeros((1, config.image_size, config.image_size, 3))
    generator = Generator(config)
    generator(image)
    discriminators = build_discriminators(config)
    for discriminator in discriminators:
        discriminator(image)

    print(f"config: {config.to_dict()}")
    print(f"{'model':<28}{'parameters':>14}{'trainable':>14}")
    total, total_trainable = _counts(generator)
    print(f"{'generator':<28}{total:>14,}{total_trainable:>14,}")
    for part, count in generator.parameter_breakdown().items():
        print(f"{'  ' + part:<28}{count:>14,}")
    d_total = d_trainable = 0
    for discriminator, size in zip(discriminators, config.sizes.discriminator_sizes):
        count, trainable = _counts(discriminator)
        d_total, d_trainable = d_total + count, d_trainable + trainable
        print(f"{discriminator.name + f' (input {size})':<28}{count:>14,}{trainable:>14,}")
    print(f"{'discriminators total':<28}{d_total:>14,}{d_trainable:>14,}")
    print(f"{'all':<28}{total + d_total:>14,}{total_trainable + d_trainable:>14,}")


if __name__ == "__main__":
    main()
